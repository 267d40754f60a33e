"""End to end: the quick configuration through Snakemake, then every output is checked."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from uhecr.schema import FEATURE_SCHEMA, validate_table

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _snakemake(*args, cwd=ROOT):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        "config/quick.yaml",
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("quick") / "results"
    out = _snakemake("--config", f"results_dir={results}")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return results


def test_all_outputs_exist_and_are_well_formed(quick_run):
    r = quick_run
    for sample in ("proton_00", "helium_00", "oxygen_00", "iron_00"):
        assert (r / "raw" / f"{sample}.root").stat().st_size > 10_000
        assert (r / "stations" / f"{sample}.parquet").stat().st_size > 0
        assert (r / "logs" / "simulate" / f"{sample}.log").exists()
        assert (r / "benchmarks" / "simulate" / f"{sample}.tsv").exists()
    table = pd.read_parquet(r / "features" / "stations.parquet")
    validate_table(table, FEATURE_SCHEMA, "stations.parquet")
    assert table["primary"].value_counts().min() >= 600
    summary = json.loads((r / "features" / "summary.json").read_text())
    assert summary["stations"] == len(table)
    checks = json.loads((r / "validation" / "simulation_checks.json").read_text())
    assert {"xmax", "multiplicity", "fluctuations", "risetime"} <= set(checks)
    for png in (r / "validation").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(list((r / "validation").glob("*.png"))) == 4
    split = json.loads((r / "splits" / "summary.json").read_text())
    assert split["shared_showers_train_test"] == 0 and sum(split["n_stations"].values()) == len(
        table
    )
    leak = json.loads((r / "splits" / "leakage.json").read_text())
    assert leak["station"]["fraction_test_stations_with_shower_in_train"] > 0.5
    assert leak["shower"]["fraction_test_stations_with_shower_in_train"] == 0.0
    for model in ("svm", "xgboost", "dae", "sdae", "vae"):
        best = json.loads((r / "search" / model / "best_params.json").read_text())
        assert best["n_trials_counted"] == best["n_trials_budget"]
        assert 0.0 < best["best_val_accuracy"] <= 1.0
        trials = pd.read_csv(r / "search" / model / "trials.csv")
        assert len(trials) >= best["n_trials_budget"]
    assert (r / "mlflow" / "mlflow.db").stat().st_size > 0


def test_rerun_is_a_no_op(quick_run):
    out = _snakemake("--config", f"results_dir={quick_run}", "--dry-run")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


def test_report_builds(quick_run, tmp_path):
    report = tmp_path / "report.html"
    out = _snakemake("--config", f"results_dir={quick_run}", "--report", str(report))
    assert out.returncode == 0, out.stderr[-3000:]
    html = report.read_text(errors="ignore")
    assert len(html) > 100_000
    for name in (
        "xmax_moments.png",
        "multiplicity.png",
        "risetime_1000m.png",
        "signal_fluctuations.png",
    ):
        assert name in html
