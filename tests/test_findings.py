"""findings.md: written from the run's outputs, naming its configuration and code by hashes,
and docs/results.md is the default run's findings for the code as it is."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd

from uhecr import configuration, findings

ROOT = Path(__file__).resolve().parents[1]


def _copy_code(dest: Path) -> Path:
    for path in findings.code_files(ROOT):
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return dest


def test_code_hash_follows_the_code_and_not_the_docs(tmp_path):
    copy = _copy_code(tmp_path / "copy")
    assert findings.code_hash(copy) == findings.code_hash(ROOT)
    (copy / "docs").mkdir()
    (copy / "docs" / "results.md").write_text("committing the findings changes no hash")
    (copy / "README.md").write_text("neither does the README")
    assert findings.code_hash(copy) == findings.code_hash(ROOT)
    module = copy / "src" / "uhecr" / "search" / "worker.py"
    module.write_text(module.read_text() + "\n# a change\n")
    assert findings.code_hash(copy) != findings.code_hash(ROOT)
    renamed = copy / "scripts" / "split.py"
    renamed.rename(copy / "scripts" / "split_renamed.py")  # names count, not only contents
    module.write_text(module.read_text().removesuffix("\n# a change\n"))
    assert findings.code_hash(copy) != findings.code_hash(ROOT)


def _inputs():
    reference = pd.DataFrame(
        [
            {"model": "svm", "label": "SVM", "unit": "station", "confidence": 0.99,
             "accuracy": 0.41, "lower": 0.38, "upper": 0.44, "n_test": 900,
             "n_test_showers": 80, "event_accuracy": 0.52, "event_lower": 0.40,
             "event_upper": 0.63},
            {"model": "xgboost", "label": "XGBoost", "unit": "station", "confidence": 0.99,
             "accuracy": 0.37, "lower": 0.33, "upper": 0.40, "n_test": 900,
             "n_test_showers": 80, "event_accuracy": 0.49, "event_lower": 0.37,
             "event_upper": 0.60},
        ]
    )  # fmt: skip
    comparisons = pd.DataFrame(
        [
            {"unit": "station", "model_a": "xgboost", "model_b": "svm", "difference": -0.04,
             "difference_lower": -0.07, "difference_upper": -0.01, "significant": True,
             "alpha": 0.01},
            {"unit": "shower", "model_a": "xgboost", "model_b": "svm", "difference": -0.03,
             "difference_lower": -0.09, "difference_upper": 0.02, "significant": False,
             "alpha": 0.01},
        ]
    )  # fmt: skip
    best = {
        "svm": {"n_trials_budget": 8, "best_trial": 7, "best_val_accuracy": 0.4,
                "states": {"COMPLETE": 8}},
        "xgboost": {"n_trials_budget": 8, "best_trial": 2, "best_val_accuracy": 0.38,
                    "states": {"COMPLETE": 6, "PRUNED": 2}},
    }  # fmt: skip
    split = {"n_stations": {"train": 3000, "validation": 800, "test": 900},
             "n_showers": {"train": 250, "validation": 70, "test": 80}}  # fmt: skip
    tables = {"results": "| results table |", "paired_comparisons": "| pairs |",
              "composition": "| composition |"}  # fmt: skip
    return reference, comparisons, best, split, tables


def test_findings_summarise_the_outputs_they_are_given():
    reference, comparisons, best, split, tables = _inputs()
    config = configuration.load(ROOT / "config" / "config.yaml")
    text = findings.findings_markdown(
        run_name="default", config=config, code_sha256="c" * 64, split=split,
        reference=reference, comparisons=comparisons, best=best, tables=tables,
        checks={"table": [{"status": "pass"}] * 5 + [{"status": "fail"}]},
    )  # fmt: skip
    assert "Highest accuracy per station in the main run: SVM, 0.410 [0.380, 0.440]" in text
    # The pair's sign follows the leader: SVM - XGBoost = +0.04, interval flipped.
    assert "difference +0.040 [0.010, 0.070]" in text and "calls significant" in text
    assert "Highest accuracy per shower in the main run: SVM, 0.520 [0.400, 0.630]" in text
    assert "not significant after Holm" in text
    assert "1 of 2 paired comparisons are significant" in text
    assert "last batch (a larger budget may find better parameters): SVM." in text
    assert "6 simulation checks against the physics sheet: 1 fail, 5 pass." in text
    assert "Test set: 900 stations in 80 showers" in text
    for table in tables.values():
        assert table in text
    assert f"configuration SHA-256: `{findings.provenance.config_hash(config)}`" in text
    assert "`" + "c" * 64 + "`" in text


def test_the_committed_results_are_the_default_run_of_this_code():
    """docs/results.md is results/default/findings.md of `make run` at this code: when the
    code or the default configuration changes, rerun it (`make results-doc`)."""
    text = (ROOT / "docs" / "results.md").read_text()
    config = configuration.load(ROOT / "config" / "config.yaml")
    code = re.search(r"code SHA-256: `([0-9a-f]{64})`", text)
    conf = re.search(r"configuration SHA-256: `([0-9a-f]{64})`", text)
    assert code and conf, "docs/results.md is not a findings file"
    stale = "docs/results.md is stale: run `make results-doc` and commit docs/results.md"
    assert code[1] == findings.code_hash(ROOT), stale + " (the code changed)"
    assert conf[1] == findings.provenance.config_hash(config), stale + " (the config changed)"


def test_the_landing_page_shows_the_findings_summary(tmp_path):
    text = (
        "# Findings\n\n## Summary\n\n* One `literal` line.\n* Two.\n\n## Test accuracy\n\n| x |\n"
    )
    (tmp_path / "findings.md").write_text(text)
    landing = tmp_path / "landing.rst"
    landing.write_text("Results\n-------\n")
    findings.append_summary(landing, tmp_path / "findings.md")
    page = landing.read_text()
    assert "* One ``literal`` line.\n* Two.\n" in page and "| x |" not in page
    assert page.index("Findings (the summary of findings.md)") > page.index("Results")


def test_a_lead_that_changes_between_replicates_is_said_to_depend_on_the_sweep():
    reference, comparisons, best, split, tables = _inputs()
    config = configuration.load(ROOT / "config" / "config.yaml")
    pairs = pd.DataFrame(
        [
            {"unit": "station", "model_a": "svm", "model_b": "xgboost", "replicates": 2,
             "mean_difference": 0.005, "sd_difference": 0.05, "a_ahead": 1, "tied": 0,
             "b_ahead": 1},
            {"unit": "shower", "model_a": "svm", "model_b": "xgboost", "replicates": 2,
             "mean_difference": 0.02, "sd_difference": 0.01, "a_ahead": 2, "tied": 0,
             "b_ahead": 0},
        ]
    )  # fmt: skip
    summaries = {
        "svm": {
            level: {"replicates": 2, "mean": 0.4, "sd": 0.01, "sweep_share": 0.25,
                    "confidence": 0.99, "lower": 0.35, "upper": 0.45}
            for level in ("station", "shower")
        }
    }  # fmt: skip
    text = findings.findings_markdown(
        run_name="default", config=config, code_sha256="c" * 64, split=split,
        reference=reference, comparisons=comparisons, best=best, tables=tables, checks=None,
        replicates=summaries, replicate_pairs=pairs,
    )  # fmt: skip
    station = next(line for line in text.splitlines() if "per station in the main run" in line)
    assert "ahead in 1 of 2 (mean difference +0.005" in station
    assert "depends on the sweep" in station
    assert "for the main run's two models" in station  # the test-set verdict, qualified
    assert "SD 0.010 (the sweep's share of one run's variance: 25%)" in station
    shower = next(line for line in text.splitlines() if "per shower in the main run" in line)
    assert "ahead in 2 of 2" in shower and "depends on the sweep" not in shower
