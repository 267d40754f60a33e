"""The quick workflow through a real SLURM cluster (profiles/slurm), checked with sacct.

CI starts a single-node cluster with shared/ci/setup_slurm.sh before the tests; there (CI=true)
a missing cluster is a failure. Elsewhere the test is skipped when no cluster answers.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def test_quick_workflow_runs_through_slurm_with_a_retry(cluster, tmp_path):
    results = tmp_path / "results"
    markers = tmp_path / "markers"
    env = {**os.environ, "UHECR_FAIL_ONCE": f"compute_features:{markers}"}
    cfg = configuration.load(ROOT / "config" / "quick.yaml")
    cfg["results_dir"] = str(results)
    cfg["models"]["enabled"] = ["svm"]
    cfg["models"]["svm"]["n_trials"] = 2
    cfg["splits"]["leakage_study"] = False
    config_file = tmp_path / "slurm.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    targets = [f"{results}/search/svm/best_params.json", f"{results}/features/summary.json"]
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
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
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
