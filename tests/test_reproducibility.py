"""The same numbers with any number of workers and after an interruption: the SVM sweep of
conftest.SCHEDULE_OVERLAY (six trials, two per batch, TPE after two) on the shared quick run's
data, run by Snakemake with 2 and 3 workers and through a SIGKILL of Snakemake mid-sweep, gives
byte for byte the trials table, best parameters and test metrics of the one-worker run (local
jobs, ``--cores 2``: one thread per search worker, two for the refit; tests/test_slurm.py runs
the same sweep through SLURM)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import QUICK_RESULTS, copy_workspace, schedule_command, schedule_outputs

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


@pytest.mark.parametrize("n_workers", [2, 3])
def test_more_workers_give_the_same_bytes(shared_quick_run, schedule_reference, tmp_path,
                                          n_workers):  # fmt: skip
    ws = copy_workspace(shared_quick_run.ws, tmp_path / "uhecr-workflow")
    out = subprocess.run(
        [*schedule_command(ws, n_workers), "--cores", "3"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    workers = {p.name for p in (ws / QUICK_RESULTS / "search" / "svm").glob("worker_*.json")}
    assert workers == {f"worker_{w:02d}.json" for w in range(n_workers)}
    assert schedule_outputs(ws) == schedule_reference


def _journal_states(ws) -> tuple[int, int]:
    """(complete, running) trials of the SVM sweep so far, from its Optuna journal."""
    import json

    import optuna
    from optuna.trial import TrialState

    from uhecr import search

    folder = ws / QUICK_RESULTS / "search" / "svm"
    try:
        name = json.loads((folder / "study.json").read_text())["study_name"]
        study = optuna.load_study(
            study_name=name, storage=search.storage_for("journal", folder / "optuna.journal")
        )
    except (FileNotFoundError, KeyError, ValueError):
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    return (
        sum(t.state == TrialState.COMPLETE for t in trials),
        sum(t.state == TrialState.RUNNING for t in trials),
    )


def test_a_sigkilled_snakemake_rerun_gives_the_same_bytes(shared_quick_run, schedule_reference,
                                                           tmp_path):  # fmt: skip
    """Snakemake killed (SIGKILL) while two workers are mid-sweep, its worker processes left
    running; unlocked and run again: the rerun's workers stop the orphans, re-open their slots
    and finish the sweep to the one-worker run's bytes."""
    ws = copy_workspace(shared_quick_run.ws, tmp_path / "uhecr-workflow")
    command = [*schedule_command(ws, 2), "--cores", "2"]
    log = open(tmp_path / "killed.log", "w")
    first = subprocess.Popen(command, cwd=ws, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            complete, running = _journal_states(ws)
            if complete >= 2 and running >= 1:
                break
            assert first.poll() is None, "the sweep ended before it could be interrupted"
            time.sleep(0.2)
        else:
            pytest.fail("no trial was running after two finished")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        log.close()
    complete, running = _journal_states(ws)
    assert complete < 6, "the sweep had finished: nothing was interrupted"
    subprocess.run([*command, "--unlock"], cwd=ws, check=True, capture_output=True)
    out = subprocess.run(
        [*command, "--rerun-incomplete"], cwd=ws, capture_output=True, text=True, timeout=1800
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert schedule_outputs(ws) == schedule_reference
