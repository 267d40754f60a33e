"""The quick workflow through a real SLURM cluster (profiles/slurm), checked with sacct.

CI starts a single-node cluster with shared/ci/setup_slurm.sh before the tests; there (CI=true)
a missing cluster is a failure. Elsewhere the test is skipped when no cluster answers.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import (
    PG_PASSWORD,
    copy_workspace,
    mlflow_server,
    postgres_cluster,
    schedule_command,
    schedule_outputs,
)
from uhecr import configuration

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.workflow]


def _cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(
        s.startswith(("idle", "mixed", "alloc")) for s in out.stdout.split()
    )


@pytest.fixture(scope="module")
def cluster():
    if not _cluster_up():
        if os.environ.get("CI") == "true":
            pytest.fail(
                "no SLURM cluster answers in CI (.ci/run starts one with shared/ci/setup_slurm.sh)"
            )
        pytest.skip("no SLURM cluster on this machine (run shared/ci/setup_slurm.sh as root)")
    if (
        not shutil.which("sacct")
        or subprocess.run(["sacct", "-n", "-X"], capture_output=True).returncode
    ):
        pytest.fail("sacct does not work: the cluster needs slurmdbd (SLURM_WITH_DBD=1)")


def _slurm(config_file: Path, targets: list[str], env: dict) -> subprocess.CompletedProcess:
    cmd = _slurm_command(config_file, targets)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def _slurm_command(config_file: Path, targets: list[str]) -> list[str]:
    return [
        "timeout",
        "-s",
        "INT",
        "-k",
        "60",
        "1500",
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        "profiles/slurm",
        "--configfile",
        str(config_file),
        "--slurm-init-seconds-before-status-checks",
        "5",  # a one-node test cluster: poll sooner than the polite default of 40 s
        "--jobs",
        "4",
        *targets,
    ]


def _quick_config(tmp_path: Path, results: Path, **search) -> Path:
    cfg = configuration.load(ROOT / "config" / "quick.yaml")
    cfg["results_dir"] = str(results)
    cfg["models"]["enabled"] = ["svm"]
    cfg["models"]["svm"]["n_trials"] = 2
    cfg["splits"]["leakage_study"] = False
    cfg["search"].update(search)
    config_file = tmp_path / "slurm.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    return config_file


def test_multi_node_tracking_postgres_and_mlflow_server_with_two_slurm_workers(cluster, tmp_path):
    """The multi-node setup of docs/tracking.md: Optuna in PostgreSQL, MLflow through a
    tracking server (PostgreSQL backend store, proxied artifacts), two search_worker jobs under
    SLURM on one study. Every trial is in both stores exactly once; no password is written."""
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.trial import TrialState

    results = tmp_path / "results"
    with postgres_cluster(["optuna", "mlflow"]) as pg, mlflow_server(pg, tmp_path / "art") as uri:
        storage_url = (
            f"postgresql+psycopg2://uhecr:${{UHECR_OPTUNA_DB_PASSWORD}}@127.0.0.1:{pg}/optuna"
        )
        config_file = _quick_config(
            tmp_path, results, n_workers=2, storage=storage_url, tracking_uri=uri
        )
        cfg = yaml.safe_load(config_file.read_text())
        cfg["models"]["svm"]["n_trials"] = 6
        config_file.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "UHECR_OPTUNA_DB_PASSWORD": PG_PASSWORD}
        out = _slurm(config_file, [f"{results}/search/svm/best_params.json"], env)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-6000:]
        workers = [json.loads((results / "search/svm" / f"worker_{w}.json").read_text())
                   for w in ("00", "01")]  # fmt: skip
        assert sum(len(w["trials"]) for w in workers) == 6
        # Both workers ran as SLURM jobs.
        assert len(re.findall(r"rule search_worker:", text)) == 2, text[-3000:]
        study_name = json.loads((results / "search/svm/study.json").read_text())["study_name"]
        os.environ["UHECR_OPTUNA_DB_PASSWORD"] = PG_PASSWORD
        try:
            from uhecr import search

            storage = search.storage_for(storage_url, "unused")
        finally:
            del os.environ["UHECR_OPTUNA_DB_PASSWORD"]
        trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
        assert sorted(t.state for t in trials) == [TrialState.COMPLETE] * 6
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(f"{cfg['run_name']}-sweeps")
        runs = client.search_runs(
            [experiment.experiment_id], "tags.`uhecr.kind` = 'trial'", max_results=100
        )
        numbers = sorted(int(r.data.tags["optuna.trial"]) for r in runs)
        assert numbers == sorted(t.number for t in trials)  # each trial exactly once
        assert {r.data.tags["worker"] for r in runs} <= {"00", "01"}
        parent = client.search_runs([experiment.experiment_id], "tags.`uhecr.kind` = 'sweep'")
        assert len(parent) == 1
        assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent[0].info.run_id}
    leaked = [
        p for p in results.rglob("*") if p.is_file() and PG_PASSWORD.encode() in p.read_bytes()
    ]
    assert not leaked, leaked


def test_quick_workflow_runs_through_slurm_with_a_retry(cluster, tmp_path):
    results = tmp_path / "results"
    markers = tmp_path / "markers"
    env = {**os.environ, "UHECR_FAIL_ONCE": f"extract_stations:{markers}"}
    config_file = _quick_config(tmp_path, results)
    targets = [f"{results}/search/svm/best_params.json", f"{results}/features/summary.json"]
    out = _slurm(config_file, targets, env)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    for t in targets:
        assert Path(t).stat().st_size > 0
    # Every submitted job is known to SLURM accounting and completed (or failed once, on purpose).
    job_ids = sorted(
        set(re.findall(r"SLURM jobid (\d+)", text))
        | set(re.findall(r"external jobid '?(\d+)", text))
    )
    assert len(job_ids) >= 10, text[-3000:]
    acct = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split("|", 1) for line in acct.splitlines() if line)
    assert set(states) == set(job_ids), (states, job_ids)
    assert (
        list(states.values()).count("FAILED") == 4
    )  # one injected failure per extract_stations job
    assert list(states.values()).count("COMPLETED") == len(job_ids) - 4
    assert len(list(markers.glob("extract_stations-*.failed"))) == 4


def test_two_slurm_workers_give_the_bytes_of_one_local_worker(
    cluster, shared_quick_run, schedule_reference, tmp_path
):
    """The sweep of tests/test_reproducibility.py with two workers as SLURM jobs (threads as
    the rules declare them: one per worker, two for the refit) gives the one-worker local
    run's trials table, best parameters and test metrics, byte for byte."""
    ws = copy_workspace(shared_quick_run.ws, tmp_path / "uhecr-workflow")
    command = ["timeout", "-s", "INT", "-k", "60", "1500", *schedule_command(ws, 2)]
    command += ["--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "5"]
    command += ["--jobs", "4"]
    out = subprocess.run(command, cwd=ws, capture_output=True, text=True)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    assert len(set(re.findall(r"SLURM jobid (\d+)", text))) >= 4, text[-3000:]  # sweep jobs
    assert schedule_outputs(ws) == schedule_reference


def _wait_for(condition, what: str, process=None, timeout: float = 900.0):
    """Poll ``condition()`` until it returns something true; fail naming ``what``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            pytest.fail(f"snakemake ended (rc {process.returncode}) before {what}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_sweep_survives_scancel_of_a_worker_and_sigkill_of_snakemake(cluster, tmp_path):
    """Fault recovery under the scheduler, one worker. (1) Its SLURM job is cancelled mid-trial.
    snakemake-executor-plugin-slurm 2.8.0 does not recognise sacct's "CANCELLED by <uid>" and
    keeps waiting, so Snakemake is killed (SIGKILL) and rerun, as a user would. (2) In the
    rerun, Snakemake is SIGKILLed mid-trial while the worker job runs on, and run again. The
    sweep ends with exactly the budget of counted trials, each interrupted trial marked and its
    parameters rerun once in its slot, nothing finished recomputed, and best_params.json equal
    to an uninterrupted one-worker sweep."""
    import signal

    import optuna
    from optuna.trial import TrialState

    from uhecr import search, splits

    results = tmp_path / "results"
    config_file = _quick_config(tmp_path, results, n_workers=1, pruner={"name": "none"})
    cfg = yaml.safe_load(config_file.read_text())
    cfg["models"]["enabled"] = ["dae"]
    # Trials of about 13 s: the orphan of step 2 still has about 100 s of trials to go when the
    # last rerun's worker starts (60-90 s later, SLURM and start-up), so that worker stops it.
    cfg["models"]["dae"]["n_trials"] = 10
    cfg["models"]["dae"]["fixed"]["epochs"] = 100
    config_file.write_text(yaml.safe_dump(cfg))
    target = f"{results}/search/dae/best_params.json"
    command = _slurm_command(config_file, [target])
    # The test cluster is one node of 8 GB: two workers of 3 GB fit at once, so the last
    # rerun's worker starts while the orphan still runs (as on a real cluster).
    at = command.index("--configfile")
    command[at:at] = ["--set-resources", "search_worker:mem_mb=3000"]
    snakemake = command[command.index(sys.executable) :]  # no `timeout` wrapper: killed below
    journal = results / "search" / "dae" / "optuna.journal"

    def study():
        if not (results / "search" / "dae" / "study.json").exists():
            return None
        name = json.loads((results / "search/dae/study.json").read_text())["study_name"]
        try:
            return optuna.load_study(
                study_name=name, storage=search.storage_for("journal", journal)
            )
        except KeyError:
            return None

    def running_trial(min_slot: int, not_job=None):
        st = study()
        if st is None:
            return None
        job = st.user_attrs.get("worker_00_job")
        for t in st.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("slot", -1) >= min_slot and job and job != not_job:
                return job
        return None

    def sacct_state(job) -> str:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job["slurm_job"]],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def start(name):
        log = open(tmp_path / f"{name}.log", "w")
        process = subprocess.Popen(snakemake, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return process, log

    def kill(process, log):
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        log.close()
        subprocess.run([*snakemake, "--unlock"], cwd=ROOT, check=True, capture_output=True)

    first, log = start("first")
    try:
        # 1. scancel the worker's SLURM job in the middle of its second trial.
        job = _wait_for(lambda: running_trial(1), "a running second trial", first)
        subprocess.run(["scancel", job["slurm_job"]], check=True)
        _wait_for(lambda: sacct_state(job).startswith("CANCELLED"), "the job to be cancelled")
    finally:
        kill(first, log)
    second, log = start("second")
    try:
        # 2. SIGKILL Snakemake in the middle of a later trial; the worker job runs on.
        orphan = _wait_for(lambda: running_trial(2, not_job=job), "the rerun's worker", second)
    finally:
        kill(second, log)
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    (tmp_path / "third.log").write_text(out.stdout + out.stderr)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    final = study()
    killed = search.killed_trials(final)
    counted = [t for t in final.get_trials() if search.counted(t, killed)]
    assert sorted(t.user_attrs["slot"] for t in counted) == list(range(10))
    assert {t.state for t in counted} == {TrialState.COMPLETE}
    assert len(killed) == 2  # the cancelled job's trial and the orphan's
    for number in killed:
        retries = [t for t in counted if t.user_attrs.get("retry_of") == number]
        assert len(retries) == 1, number
        assert retries[0].params == final.trials[number].params
    assert sacct_state(job).startswith("CANCELLED")
    worker = json.loads((results / "search" / "dae" / "worker_00.json").read_text())
    assert worker["stopped_earlier_job"] == orphan  # stopped by the last rerun's worker
    assert worker["recovered_killed_trials"] == 1
    assert sacct_state(orphan).startswith("CANCELLED")

    # The same sweep without interruption, in this process: the same best parameters.
    data = splits.load_split(
        results / "features" / "stations.parquet",
        results / "splits" / "manifest.parquet",
        cfg["models"]["features"],
    )
    for part in ("train", "validation"):
        X, y, frame = data[part]
        data[part] = (X, y, frame["shower_id"].to_numpy())
    storage = search.storage_for("journal", tmp_path / "reference.journal")
    tracking = f"sqlite:///{tmp_path / 'reference.db'}"
    search.init_tracking(tracking, "reference", tmp_path / "artifacts")
    model_cfg = cfg["models"]["dae"]
    info = search.create_study("dae", "reference", storage, tracking, "reference", model_cfg, 1)
    search.run_worker(
        "dae",
        model_cfg,
        data,
        storage,
        info,
        "00",
        cfg["search"],
        cfg["seed"],
        tracking,
        threads=2,
        features=cfg["models"]["features"],
    )  # fmt: skip  (threads: the rule's)
    reference, _ = search.summarise_study(info, storage, model_cfg, tracking)
    best = json.loads(Path(target).read_text())
    assert best["params"] == reference["params"]
    assert best["best_val_accuracy"] == pytest.approx(reference["best_val_accuracy"])
