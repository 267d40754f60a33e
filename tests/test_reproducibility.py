"""Two runs of a small configuration from scratch give identical splits, best parameters and
test metrics (tools/reproducibility_check.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_runs_from_scratch_are_identical(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "tools/reproducibility_check.py",
            "--config",
            "config/quick.yaml",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    report = json.loads((tmp_path / "reproducibility.json").read_text())
    assert out.returncode == 0, (report["differences"], out.stderr[-3000:])
    assert report["identical"]
    a, b = report["run_a"], report["run_b"]
    assert a["split_ids_sha256"] == b["split_ids_sha256"]
    assert set(a["models"]) == {"svm", "xgboost", "dae", "sdae", "vae"}
