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
from pathlib import Path

import pytest
import yaml

from conftest import PG_PASSWORD, mlflow_server, postgres_cluster
from uhecr import configuration

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slurm, pytest.mark.slow]


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
    cmd = [
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
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


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
    env = {**os.environ, "UHECR_FAIL_ONCE": f"compute_features:{markers}"}
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
    )  # one injected failure per compute_features job
    assert list(states.values()).count("COMPLETED") == len(job_ids) - 4
    assert len(list(markers.glob("compute_features-*.failed"))) == 4
