"""End to end: the quick configuration through Snakemake, then every output is checked."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import QUICK_RESULTS, copy_workspace, rules_run
from uhecr import configuration
from uhecr.table_schema import FEATURE_SCHEMA, validate_table

pytestmark = [pytest.mark.slow, pytest.mark.workflow]
ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The quick configuration's models: the study's five station classifiers and two that
# classify whole showers.
STATION_MODELS = ("svm", "xgboost", "dae", "sdae", "vae")
SHOWER_MODELS = ("deepsets", "xgboost_shower")
ALL_MODELS = STATION_MODELS + SHOWER_MODELS


def _snakemake(*args, target=None, env=None, cwd=ROOT):
    """Snakemake on the quick config; ``target`` goes first (``--config`` takes many values)."""
    cmd = [sys.executable, "-m", "snakemake", *([target] if target else []), "--cores", "2"]
    cmd += ["--configfile", "config/quick.yaml", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)


@pytest.fixture(scope="module")
def quick_ws(shared_quick_run, tmp_path_factory):
    """This module's copy of the session's quick run (some tests here add to it or rerun part
    of it): a checkout whose results are under results/quick."""
    ws = copy_workspace(shared_quick_run.ws, tmp_path_factory.mktemp("e2e") / "uhecr-workflow")
    # No http(s) origin here (the README test has one): the bundle must say what to set.
    subprocess.run(["git", "remote", "remove", "origin"], cwd=ws, check=True)
    return ws


@pytest.fixture(scope="module")
def quick_run(quick_ws):
    return quick_ws / QUICK_RESULTS


def _in(results: Path, *args, **kwargs):
    """Snakemake in the checkout that holds the quick run ``results``."""
    return _snakemake(*args, cwd=results.parents[1], **kwargs)


def test_all_outputs_exist_and_are_well_formed(quick_run):
    r = quick_run
    for sample in ("proton_00", "helium_00", "oxygen_00", "iron_00"):
        assert (r / "raw" / f"{sample}.root").stat().st_size > 10_000
        counts = json.loads((r / "stations" / f"{sample}.summary.json").read_text())
        featured = pq.read_metadata(r / "features" / "per_file" / f"{sample}.parquet").num_rows
        assert counts["stations"] == featured > 0
        assert counts["stations_read"] == featured + sum(counts["quarantined"].values())
        assert (r / "logs" / "simulate" / f"{sample}.log").exists()
        assert (r / "benchmarks" / "simulate" / f"{sample}.tsv").exists()
    table = pd.read_parquet(r / "features" / "stations.parquet")
    validate_table(table, FEATURE_SCHEMA, "stations.parquet")
    for sample in ("proton_00", "helium_00", "oxygen_00", "iron_00"):  # 600 simulated each
        assert pq.read_metadata(r / "features" / "per_file" / f"{sample}.parquet").num_rows >= 600
    summary = json.loads((r / "features" / "summary.json").read_text())
    assert summary["stations"] == len(table)
    checks = json.loads((r / "validation" / "simulation_checks.json").read_text())
    assert {"xmax", "multiplicity", "fluctuations", "risetime"} <= set(checks)
    from uhecr.simulation_validation import TOLERANCES

    assert {row["check"] for row in checks["table"]} == set(TOLERANCES)
    assert not [row for row in checks["table"] if row["status"] == "fail"]
    # The station selection of config/config.yaml, counted.
    selection = summary["selection"]
    assert (table["core_distance_m"] >= selection["min_core_distance_m"]).all()
    assert not table["saturated"].any()
    assert selection["stations_before"] - sum(selection["left_out"].values()) == len(table)
    assert selection["left_out"]["near_core"] > 0
    # Composition: every model, every configured mixture, every quantity fitted.
    for model in ALL_MODELS:
        assert (r / "models" / model / "MLmodel").is_file()  # saved for target apply
        comp = pd.read_csv(r / "composition" / model / "summary.csv")
        assert set(comp["mixture"]) == {"pure_proton", "pure_iron", "proton_iron_50_50", "mixed"}
        assert {"ln_a", "ln_a_xmax", "f_proton", "f_iron"} <= set(comp["quantity"])
        assert (comp["experiments"] == 20).all() and (comp["failed_fits"] == 0).all()
    for png in (r / "validation").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(list((r / "validation").glob("*.png"))) == 4
    split = json.loads((r / "splits" / "summary.json").read_text())
    assert split["shared_showers_train_test"] == 0 and sum(split["n_stations"].values()) == len(
        table
    )
    leak = json.loads((r / "splits" / "leakage.json").read_text())
    assert {"lg_energy", "zenith_deg"} <= set(leak["shower_constant_features"])
    assert set(leak["variants"]) == {"all_features", "without_shower_constant_features"}
    for variant in leak["variants"].values():
        assert variant["station"]["fraction_test_stations_with_shower_in_train"] > 0.5
        assert variant["shower"]["fraction_test_stations_with_shower_in_train"] == 0.0
        assert variant["shower"]["resampling_unit"] == "shower"
    reduced = leak["variants"]["without_shower_constant_features"]["features"]
    assert not set(reduced) & set(leak["shower_constant_features"])
    assert "without lg_energy" in (r / "tables" / "leakage.md").read_text()
    for model in ALL_MODELS:
        best = json.loads((r / "search" / model / "best_params.json").read_text())
        assert best["n_trials_counted"] == best["n_trials_budget"]
        assert 0.0 < best["best_val_accuracy"] <= 1.0
        # Only complete and pruned trials count as success: any trial that raised fails here.
        assert set(best["states"]) <= {"COMPLETE", "PRUNED"}, best["states"]
        trials = pd.read_csv(r / "search" / model / "trials.csv")
        assert len(trials) >= best["n_trials_budget"]
        status = trials.get("user_attrs_status", pd.Series("", index=trials.index))
        counted = trials[~status.isin(["killed", "over_budget"])]
        assert set(counted["state"]) <= {"COMPLETE", "PRUNED"}, model
    assert (r / "mlflow" / "mlflow.db").stat().st_size > 0
    for model in ALL_MODELS:
        metrics = json.loads((r / "evaluation" / model / "metrics.json").read_text())
        split_n = split["n_stations"]["test"]
        acc = metrics["accuracy"]
        assert acc["n_showers"] == split["n_showers"]["test"]
        assert acc["resampling_unit"] == "shower"
        assert acc["lower"] < acc["value"] < acc["upper"]
        assert acc["n_effective"] == pytest.approx(acc["n"] / acc["design_effect"])
        event = metrics["event_level"]["accuracy"]
        assert event["n"] == split["n_showers"]["test"]
        assert event["lower"] < event["value"] < event["upper"]
        if model in STATION_MODELS:
            assert metrics["unit"] == "station"
            assert acc["n"] == split_n  # intervals use the real test n
            assert metrics["chance_accuracy"] == pytest.approx(
                max(split["counts"]["test"].values()) / split_n
            )
        else:  # one prediction per shower: every metric counts showers
            assert metrics["unit"] == "shower" and metrics["binned"] is None
            assert acc["n"] == split["n_showers"]["test"]
            assert acc["value"] == pytest.approx(event["value"])
            predictions = pd.read_parquet(r / "evaluation" / model / "predictions.parquet")
            per_shower = predictions.groupby("shower_id")[["p_proton", "p_iron"]].nunique()
            assert (per_shower == 1).all().all()  # the same probabilities on all its stations
        for fig in ("optimisation_history", "params_vs_accuracy", "confusion_matrix"):
            assert (r / "figures" / model / f"{fig}.png").read_bytes()[:8] == PNG_MAGIC
    pairs = pd.read_csv(r / "evaluation" / "paired_comparisons.csv")
    # 10 station-model pairs per station, 21 pairs of all seven models per shower.
    assert (pairs["unit"] == "station").sum() == 10 and (pairs["unit"] == "shower").sum() == 21
    assert (
        not pairs.loc[pairs["unit"] == "station", ["model_a", "model_b"]]
        .isin(SHOWER_MODELS)
        .any()
        .any()
    )
    assert pairs["p_holm"].between(0, 1).all()
    assert (pairs["difference_lower"] < pairs["difference_upper"]).all()
    results_md = (r / "tables" / "results.md").read_text()
    assert "shower bootstrap" in results_md and "as if stations were independent" in results_md
    assert "Accuracy per shower" in results_md
    assert "\\begin{tabularx}" in (r / "tables" / "results.tex").read_text()
    # Replicate sweeps (quick: 2 per model): their own seeds, the same test set.
    summary = json.loads((r / "evaluation" / "replicates.json").read_text())
    assert set(summary) == set(ALL_MODELS)
    for model in ALL_MODELS:
        main = json.loads((r / "evaluation" / model / "metrics.json").read_text())
        other = json.loads((r / "evaluation" / model / "replicate_1" / "metrics.json").read_text())
        assert other["accuracy"]["n_showers"] == main["accuracy"]["n_showers"]  # same test set
        shower = summary[model]["shower"]
        assert shower["replicates"] == 2 and shower["values"][0] == pytest.approx(
            main["event_level"]["accuracy"]["value"]
        )
        assert shower["sd"] is not None and shower["lower"] <= shower["mean"] <= shower["upper"]
        assert ("station" in summary[model]) == (model in STATION_MODELS)
        seeds = [
            json.loads((r / "search" / sweep / "best_params.json").read_text())["study_name"]
            for sweep in (model, f"{model}/replicate_1")
        ]
        assert seeds[0] != seeds[1]  # another study: its own seed
    pairs = pd.read_csv(r / "evaluation" / "replicate_comparisons.csv")
    assert (pairs["a_ahead"] + pairs["tied"] + pairs["b_ahead"] == 2).all()
    # The findings: from this run's outputs, naming config and code by their hashes.
    findings = (r / "findings.md").read_text()
    record = json.loads((r / "provenance" / "provenance.json").read_text())
    assert f"configuration SHA-256: `{record['config_sha256']}`" in findings
    assert (r / "tables" / "results.md").read_text().strip() in findings
    assert "Across 2 replicate sweeps" in findings and "Highest accuracy per shower" in findings
    assert "Across the replicate sweeps it is ahead in" in findings
    assert str(r.parents[1]) not in findings and "/tmp" not in findings  # no machine paths


def test_rerun_is_a_no_op(quick_run):
    out = _in(quick_run, "--dry-run")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


def _report_entries(html: str) -> dict[str, dict]:
    """Result entries of a Snakemake report: path -> rule, wildcards, caption, embedded bytes."""
    import base64
    import re

    pattern = re.compile(
        r'"(?P<path>[^"]+)": \{"name": "[^"]*", "filename": "[^"]*", "labels": [^,]*, '
        r'"size": "[^"]*", "caption": "(?P<caption>(?:[^"\\]|\\.)*)", "mime_type": "[^"]*", '
        r'"job_properties": \{"rule": "(?P<rule>[^"]*)", "wildcards": "(?P<wildcards>[^"]*)"'
        r'.*?"data_uri": "data:[^,]*;base64,(?P<data>[^"]*)"'
    )
    return {
        m["path"]: {
            "rule": m["rule"],
            "wildcards": m["wildcards"],
            "caption": m["caption"],
            "data": base64.b64decode(m["data"]),
        }
        for m in pattern.finditer(html)
    }


def test_report_builds(quick_run, tmp_path):
    report = tmp_path / "report.html"
    out = _in(quick_run, "--report", str(report))
    assert out.returncode == 0, out.stderr[-3000:]
    entries = _report_entries(report.read_text(errors="ignore"))
    expected = {
        "validation/xmax_moments.png": "validation_figures",
        "validation/multiplicity.png": "validation_figures",
        "validation/risetime_1000m.png": "validation_figures",
        "validation/signal_fluctuations.png": "validation_figures",
        "figures/accuracy_comparison.png": "summary_figures",
        "figures/binned_accuracy.png": "summary_figures",
        "figures/shower_accuracy.png": "summary_figures",
        "figures/feature_distributions.png": "summary_figures",
        "tables/results.md": "tables",
        "tables/paired_comparisons.md": "tables",
        "tables/best_parameters.md": "tables",
        "tables/leakage.md": "leakage_table",
        "tables/simulation_validation.md": "validation_table",
        "tables/composition.md": "composition_table",
        "provenance/provenance.md": "provenance",
    }
    for model in ALL_MODELS:
        for name in ("optimisation_history", "params_vs_accuracy", "confusion_matrix"):
            expected[f"figures/{model}/{name}.png"] = "model_figures"
        expected[f"composition/{model}/fractions_vs_energy.png"] = "composition_figure"
    for rel, rule in expected.items():
        entry = entries[f"{QUICK_RESULTS}/{rel}"]
        assert entry["rule"] == rule, rel
        # The report embeds exactly the file the rule wrote, with a caption.
        assert entry["data"] == (quick_run / rel).read_bytes(), rel
        assert len(entry["caption"]) > 40, rel
    assert "model=vae" in entries[f"{QUICK_RESULTS}/figures/vae/confusion_matrix.png"]["wildcards"]
    assert (
        "resamples whole test showers" in entries[f"{QUICK_RESULTS}/tables/results.md"]["caption"]
    )


@pytest.mark.browser
def test_report_in_a_browser_shows_every_models_results_and_figures(quick_run, tmp_path, browser):
    """The HTML report as a person sees it (headless Chromium): the landing page shows the
    results table of every model with the numbers of metrics.json, and each model's figures
    open from its category with exactly the bytes the rule wrote."""
    import base64

    from selenium.webdriver.common.by import By

    from uhecr.models import LABELS

    report = tmp_path / "report.html"
    out = _in(quick_run, "--report", str(report))
    assert out.returncode == 0, out.stderr[-3000:]
    browser.get(report.as_uri())
    table = browser.find_element(By.XPATH, "//table[.//th[text()='Classifies']]")
    header = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
    rows = {}
    for tr in table.find_elements(By.XPATH, ".//tbody/tr"):
        cells = [
            td.get_attribute("textContent").strip() for td in tr.find_elements(By.TAG_NAME, "td")
        ]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    assert set(rows) == {LABELS[m] for m in ALL_MODELS}
    shower_column = next(h for h in header if h.startswith("Accuracy per shower"))
    for model in ALL_MODELS:
        metrics = json.loads((quick_run / "evaluation" / model / "metrics.json").read_text())
        row = rows[LABELS[model]]
        event = metrics["event_level"]["accuracy"]["value"]
        assert row[shower_column].startswith(f"{event:.3f}"), (model, row)
        if model in STATION_MODELS:
            assert row["Accuracy per station"] == f"{metrics['accuracy']['value']:.3f}"
        else:
            assert row["Accuracy per station"] == "n/a (classifies showers)"

    def click(element):  # in the page's own event handlers: menus animate, and a moving
        browser.execute_script("arguments[0].click();", element)  # item intercepts clicks

    for model in ("svm", "deepsets"):
        browser.get(report.as_uri())  # from the landing page, as a reader starts
        click(browser.find_element(By.XPATH, "//span[text()='4. Test evaluation']"))
        click(browser.find_element(By.XPATH, f"//*[text()='{model}']"))
        figure = quick_run / "figures" / model / "confusion_matrix.png"
        shown_path = f"{QUICK_RESULTS}/figures/{model}/confusion_matrix.png"
        row = browser.find_element(By.XPATH, f"//tr[td[text()='{shown_path}']]")
        click(row.find_element(By.XPATH, ".//a[@iconname='eye']"))
        image = browser.find_element(By.XPATH, "//img[contains(@src, 'confusion_matrix.png')]")
        shown = base64.b64decode(image.get_attribute("src").split("base64,", 1)[1])
        assert shown == figure.read_bytes(), model


def test_paper_target(quick_run, tmp_path):
    out = _in(quick_run, "--config", f"reports_dir={tmp_path}", target="paper")
    assert out.returncode == 0, out.stderr[-3000:]
    paper = tmp_path / "paper"
    sources = {
        "accuracy_comparison": "figures/accuracy_comparison",
        "binned_accuracy": "figures/binned_accuracy",
        "feature_distributions": "figures/feature_distributions",
        "xgboost_confusion_matrix": "figures/xgboost/confusion_matrix",
        "svm_optimisation_history": "figures/svm/optimisation_history",
        "vae_params_vs_accuracy": "figures/vae/params_vs_accuracy",
        "validation_xmax_moments": "validation/xmax_moments",
        "validation_risetime_1000m": "validation/risetime_1000m",
        "svm_composition": "composition/svm/fractions_vs_energy",
    }
    for name, source in sources.items():
        copy = (paper / "figures" / f"{name}.pdf").read_bytes()
        assert copy[:4] == b"%PDF", name
        # The paper's figure is the one the figure rule rendered: one rendering path.
        assert copy == (quick_run / f"{source}.pdf").read_bytes(), name
    from pypdf import PdfReader

    for pdf in (paper / "figures").glob("*.pdf"):
        page = PdfReader(pdf).pages[0]  # one column or the text width (config figures)
        assert round(float(page.mediabox.width) / 72, 2) in (3.4, 7.0), pdf.name
        fonts = [f.get_object()["/Subtype"] for f in page["/Resources"]["/Font"].values()]
        assert fonts and set(fonts) <= {"/Type0", "/TrueType"}, (pdf.name, fonts)
    main = (paper / "main.tex").read_text()
    for table in (
        "results",
        "best_parameters",
        "paired_comparisons",
        "leakage",
        "simulation_validation",
        "composition",
    ):
        assert "tabular" in (paper / "tables" / f"{table}.tex").read_text()
        assert f"\\input{{tables/{table}.tex}}" in main
    assert main.count("\\includegraphics") == len(list((paper / "figures").glob("*.pdf")))
    # The paper compiles: no LaTeX error, no overfull box, no blank page.
    from latex import blank_pages, compile_pdf, latex_problems

    pdf, log = compile_pdf(paper / "main.tex")
    assert latex_problems(log) == []
    assert blank_pages(pdf) == []


def _training_outputs(results: Path) -> dict[str, str]:
    """sha256 of every file of the training run (not apply's outputs, logs or benchmarks)."""
    from uhecr.provenance import sha256_file

    def applying(relative: Path) -> bool:
        return relative.parts[0] in ("apply", "logs", "benchmarks") or relative.name.startswith(
            "applied_fractions."
        )

    return {
        str(p.relative_to(results)): sha256_file(p)
        for p in sorted(results.rglob("*"))
        if p.is_file() and not applying(p.relative_to(results))
    }


def test_apply_target_on_an_unlabelled_root_file(quick_run, tmp_path):
    """Target apply: new files without the primary branch -> per-station and per-shower
    predictions of the saved models (not refit), fitted fractions and a provenance record."""
    import mlflow.pyfunc
    import uproot
    import yaml

    from conftest import write_unlabelled_mixture
    from uhecr.provenance import sha256_file
    from uhecr.showers import CLASSES

    # The new files name their tree and the energy branch otherwise than the training files:
    # set for this dataset alone (apply.datasets.run42.extraction).
    events = tmp_path / "events.root"
    truth = write_unlabelled_mixture(events, {"proton": 500, "iron": 500}, 99, tmp_path)
    run42 = tmp_path / "run42.root"
    with uproot.open(events) as f, uproot.recreate(run42) as out:
        tree = f["Events"]
        arrays = {b: tree[b].array() for b in tree.keys() if not b.startswith("n")}
        arrays["E"] = arrays.pop("mc_energy")
        types = {
            k: v.type.content if v.ndim > 1 else np.asarray(v).dtype for k, v in arrays.items()
        }
        out.mktree("Reco", types)
        out["Reco"].extend(arrays)
    overlay = tmp_path / "apply.yaml"
    dataset = {"files": str(run42), "extraction": {"tree": "Reco", "branches": {"energy": "E"}}}
    apply_cfg = {"datasets": {"run42": dataset}, "models": ["xgboost", "dae"]}
    overlay.write_text(yaml.safe_dump({"apply": apply_cfg}))
    training = _training_outputs(quick_run)
    out = _in(quick_run, "--configfile", "config/quick.yaml", str(overlay), target="apply")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    planned = rules_run(out.stdout + out.stderr)
    assert "evaluate" not in planned and "search_worker" not in planned  # loaded, not refit
    assert {"apply_extract", "apply_model"} == planned - {"apply", "applied_fractions_table"}
    # The training run untouched: every file as it was, and nothing to do for its config.
    assert _training_outputs(quick_run) == training
    dry = _in(quick_run, "-n", "--configfile", "config/quick.yaml")
    dry_log = dry.stdout + dry.stderr
    assert dry.returncode == 0 and "Nothing to be done" in dry_log, dry_log[-3000:]
    # The same names set globally (extraction.tree) would rerun the training extraction:
    # make apply refuses before anything runs, naming the rules and the key to use instead.
    ws = quick_run.parents[1]
    quick = yaml.safe_load((ws / "config" / "quick.yaml").read_text())  # make takes one file
    changed = {"extraction": {"tree": "Reco"}, "apply": {"datasets": {"run43": str(run42)}}}
    (ws / "global-apply.yaml").write_text(yaml.safe_dump(configuration.merge(quick, changed)))
    out = subprocess.run(
        ["make", "apply", "CONFIG=global-apply.yaml"], cwd=ws, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert (
        "would rerun rules of the training run" in out.stderr and "extract_stations" in out.stderr
    )
    assert "apply.datasets.<name>.extraction" in out.stderr
    assert _training_outputs(quick_run) == training and not (quick_run / "apply" / "run43").exists()
    features = pd.read_parquet(quick_run / "apply" / "run42" / "features.parquet")
    for model in ("xgboost", "dae"):
        d = quick_run / "apply" / "run42" / model
        stations = pd.read_parquet(d / "stations.parquet")
        proba = stations[[f"p_{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        assert (stations["label"] == -1).all() and (stations["primary_true"] == "unknown").all()
        assert stations["shower_id"].str.startswith("run42:").all()
        assert (stations["core_distance_m"] >= 300).all()  # the training selection applied
        # The saved MLflow model, loaded by hand, gives the same probabilities.
        saved = mlflow.pyfunc.load_model(str(quick_run / "models" / model))
        kept = features.merge(stations[["shower_id", "station_id"]], how="inner")
        kept = kept.sort_values(["shower_id", "station_id"]).reset_index(drop=True)
        direct = saved.predict(kept[saved.metadata.get_input_schema().input_names()])
        ordered = stations.sort_values(["shower_id", "station_id"]).reset_index(drop=True)
        np.testing.assert_allclose(
            direct.to_numpy(), ordered[direct.columns].to_numpy(), rtol=1e-5, atol=1e-7
        )
        showers = pd.read_parquet(d / "showers.parquet")
        assert showers["shower_id"].nunique() == len(showers) == stations["shower_id"].nunique()
        assert len(showers) <= sum(truth.values())
        assert set(showers["prediction"]) <= set(CLASSES)
        # Domain flags on every station and shower; flagged showers are left out of the fit
        # and counted per bin and reason.
        assert stations["out_of_domain"].eq(stations["domain_reason"] != "").all()
        assert showers["out_of_domain"].eq(showers["domain_reason"] != "").all()
        flagged = set(stations.loc[stations["out_of_domain"], "shower_id"])
        assert flagged <= set(showers.loc[showers["out_of_domain"], "shower_id"])
        fractions = pd.read_csv(d / "fractions.csv")
        fitted = fractions[fractions["status"].str.startswith("fitted")]
        assert len(fitted) and fitted["showers"].sum() == (~showers["out_of_domain"]).sum()
        assert fractions["showers"].sum() + fractions["left_out"].sum() == len(showers)
        np.testing.assert_allclose(fitted[[f"f_{c}" for c in CLASSES]].sum(axis=1), 1.0)
        assert (fitted["ln_a_error"] > 0).all() and "f_proton_true" not in fractions
        record = json.loads((d / "provenance.json").read_text())
        assert record["inputs"][0]["sha256"] == sha256_file(run42)
        assert record["model"]["training"]["fit"]["model"] == model
        assert record["model"]["training"]["fit"]["threads"] == 1  # rule evaluate's
        assert record["model"]["files_sha256"]["MLmodel"] == sha256_file(
            quick_run / "models" / model / "MLmodel"
        )
        assert not record["labelled"] and record["showers"] == len(showers)
        # The dataset's own reading settings, as applied (not the fraction fit's settings).
        assert record["settings"]["extraction"]["tree"] == "Reco"
        assert record["settings"]["extraction"]["branches"]["energy"] == "E"
    table = (quick_run / "tables" / "applied_fractions.md").read_text()
    assert "run42" in table and "XGBoost" in table and "Autoencoder V1" in table
    # A training file given as new data: refused, naming the key and the training input.
    overlay.write_text(
        yaml.safe_dump(
            {
                "apply": {
                    "datasets": {"again": str(quick_run / "raw" / "iron_00.root")},
                    "models": ["svm"],
                },
            }
        )
    )
    out = _in(quick_run, "--configfile", "config/quick.yaml", str(overlay), target="apply")
    assert out.returncode != 0
    log = (quick_run / "logs" / "apply_model" / "again_svm.log").read_text()
    assert "apply.datasets.again" in log and "same content as training input" in log
    # A recompressed copy (LZMA) of a training file without its primary branch, under another
    # name: other bytes, the same stations; refused by the content check, naming the sample.
    copy = tmp_path / "copy.root"
    with uproot.open(quick_run / "raw" / "iron_00.root") as f:
        tree = f["Events"]
        keys = [b for b in tree.keys() if not b.startswith("n") and b != "mc_primary_pdg"]
        arrays = {b: tree[b].array() for b in keys}
    with uproot.recreate(copy, compression=uproot.LZMA(1)) as f:
        types = {
            k: v.type.content if v.ndim > 1 else np.asarray(v).dtype for k, v in arrays.items()
        }
        f.mktree("Events", types)
        f["Events"].extend(arrays)
    assert sha256_file(copy) != sha256_file(quick_run / "raw" / "iron_00.root")
    overlay.write_text(
        yaml.safe_dump({"apply": {"datasets": {"copy": str(copy)}, "models": ["svm"]}})
    )
    out = _in(quick_run, "--configfile", "config/quick.yaml", str(overlay), target="apply")
    assert out.returncode != 0
    log = (quick_run / "logs" / "apply_model" / "copy_svm.log").read_text()
    assert "apply.datasets.copy: " in log and "showers have stations identical to training" in log
    assert "training samples iron_00" in log


def test_provenance_record(quick_run):
    record = json.loads((quick_run / "provenance" / "provenance.json").read_text())
    assert len(record["git_commit"]) >= 40 or record["git_commit"] == "unknown"
    assert len(record["config_sha256"]) == 64
    assert len(record["input_files"]) == 4 and all(
        len(h) == 64 for h in record["input_files"].values()
    )
    assert record["seeds"]["master_seed"] == 1234 and "xgboost_best_trial_seed" in record["seeds"]
    assert record["packages"]["optuna"] and record["hardware"]["cores"] >= 1
    assert any(t["job"].startswith("search_worker/") for t in record["timings"])


def test_zenodo_bundle(quick_run, tmp_path):
    import os

    from uhecr import archive

    env = {**os.environ, "ZENODO_TOKEN": "not-a-real-token-0123456789"}
    out = _in(quick_run, "--config", f"reports_dir={tmp_path}", target="zenodo", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    bundle = tmp_path / "zenodo"
    for name in (
        "README.md",
        "CITATION.cff",
        ".zenodo.json",
        "provenance.json",
        "input_checksums.sha256",
        "config/config_used.yaml",
        "envs/requirements.lock",
        "envs/ml.yaml",
        "results/tables/results.md",
        "results/evaluation/xgboost/metrics.json",
        "results/search/vae/best_params.json",
        "results/features/summary.json",
        "results/splits/summary.json",
        "results/figures/accuracy_comparison.png",
        "results/validation/xmax_moments.png",
    ):
        assert (bundle / name).is_file(), name
    assert archive.verify_manifest(bundle) == []
    for path in bundle.rglob("*"):
        if path.is_file():
            assert b"not-a-real-token-0123456789" not in path.read_bytes()
    json.loads((bundle / ".zenodo.json").read_text())
    dry = subprocess.run(
        [sys.executable, "tools/zenodo_upload.py", str(bundle), "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "ZENODO_TOKEN"},
    )
    # This checkout has no http(s) origin and the config no archive.code_url: the bundle is
    # built but refused for upload, saying what to set (the README test covers the other case).
    assert dry.returncode == 1 and "archive.code_url" in dry.stderr, dry.stdout + dry.stderr
    assert "No code URL was recorded" in (bundle / "README.md").read_text()
    (bundle / "README.md").write_text("tampered")
    assert archive.verify_manifest(bundle) == ["README.md"]


def test_one_model_run(shared_quick_run, tmp_path):
    """``models.enabled: [xgboost]`` is schema-valid, so it must run, report included: here on
    a copy of the shared run, whose data and XGBoost sweep it reuses."""
    import yaml

    ws = copy_workspace(shared_quick_run.ws, tmp_path / "uhecr-workflow")
    overlay = tmp_path / "one_model.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "models": {"enabled": ["xgboost"]},
                "splits": {"leakage_study": False},
            }
        )
    )
    out = _snakemake("--configfile", "config/quick.yaml", str(overlay), cwd=ws)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    planned = rules_run(out.stdout + out.stderr)
    assert {"compare_models", "tables", "findings"} <= planned
    assert not {"simulate", "create_study", "collect_search"} & planned, planned
    r = ws / QUICK_RESULTS
    pairs = pd.read_csv(r / "evaluation" / "paired_comparisons.csv")
    assert len(pairs) == 0 and "p_holm" in pairs.columns
    results_md = (r / "tables" / "results.md").read_text()
    assert "XGBoost" in results_md and "SVM" not in results_md
    assert set(json.loads((r / "evaluation" / "replicates.json").read_text())) == {"xgboost"}
    assert len(pd.read_csv(r / "evaluation" / "replicate_comparisons.csv")) == 0
    assert "| SVM " not in (r / "findings.md").read_text()
    report = tmp_path / "report.html"
    out = _snakemake(
        "--configfile", "config/quick.yaml", str(overlay), "--report", str(report), cwd=ws
    )
    assert out.returncode == 0, out.stderr[-3000:]
    html = report.read_text(errors="ignore")
    assert "accuracy_comparison.png" in html
    # Without the split study there is no "Splits" section: the numbering has no gap.
    for n, name in enumerate(("Provenance", "Data", "Hyper-parameter search", "Test evaluation")):
        assert f"{n}. {name}" in html, name
    assert "Splits" not in html and "3. Hyper-parameter search" not in html


@pytest.mark.parametrize(
    ("overlay", "must_run", "must_not_run"),
    [
        # Interval settings recompute the metrics, never refit or re-sweep a model.
        (
            {"evaluation": {"n_permutations": 2999}},
            {"test_metrics"},
            {"evaluate", "create_study", "leakage_study"},
        ),
        # More workers do not restart a finished sweep (the new worker finds the budget used).
        ({"search": {"n_workers": 3}}, {"search_worker"}, {"create_study", "simulate"}),
        # Validation sample sizes touch only the validation.
        (
            {"data": {"simulation": {"validation": {"xmax_showers": 30000}}}},
            {"validate_simulation"},
            {"simulate", "extract_stations", "create_study"},
        ),
        # The station selection re-merges the features; extraction stays.
        (
            {"selection": {"min_core_distance_m": 500}},
            {"merge_features", "split"},
            {"simulate", "extract_stations", "validate_simulation"},
        ),
        # Repeating a default value (another key order after the merge) changes nothing.
        ({"models": {"vae": {"fixed": {"lr": 0.001}}}}, set(), {"create_study", "evaluate"}),
    ],
)
def test_config_changes_rerun_only_what_depends_on_them(
    quick_run, tmp_path, overlay, must_run, must_not_run
):
    import yaml

    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    out = _in(quick_run, "--configfile", "config/quick.yaml", str(path), "--dry-run")
    assert out.returncode == 0, out.stderr[-3000:]
    planned = rules_run(out.stdout + out.stderr)
    assert must_run <= planned, planned
    assert not (must_not_run & planned), planned


def test_changed_search_space_gives_a_fresh_sweep(quick_run, tmp_path):
    """Last in this module: it reruns the SVM sweep of the shared run with a narrower space."""
    import yaml

    before = json.loads((quick_run / "search" / "svm" / "best_params.json").read_text())
    quick = configuration.load(ROOT / "config" / "quick.yaml")
    # The example; degree (searched only for kernel poly) is nulled: the space check
    # refuses a condition on a value the kernel can no longer take.
    space = {"C": "loguniform(100, 1000)", "kernel": "choice(['rbf'])", "degree": None}
    overlay = tmp_path / "narrow.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "models": {"svm": {**quick["models"]["svm"], "space": space}},
            }
        )
    )
    out = _in(
        quick_run,
        "--configfile",
        "config/quick.yaml",
        str(overlay),
        target=f"{QUICK_RESULTS}/search/svm/best_params.json",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after = json.loads((quick_run / "search" / "svm" / "best_params.json").read_text())
    assert after["study_name"] != before["study_name"]
    assert after["params"]["kernel"] == "rbf" and 100 <= after["params"]["C"] <= 1000
    assert after["n_trials_counted"] == after["n_trials_budget"]
    trials = pd.read_csv(quick_run / "search" / "svm" / "trials.csv")
    assert (trials["params_C"] >= 100).all() and set(trials["params_kernel"]) == {"rbf"}


def test_trace_tables_only_when_asked_for(quick_run, tmp_path):
    """The features are computed in the extraction pass: the large per-file VEM trace tables
    are written only with extraction.keep_trace_tables (quick_run: the default, false), and
    then hold exactly the featured stations plus those quarantined for no signal."""
    import yaml

    assert not list((quick_run / "stations").glob("*.parquet"))
    results = tmp_path / "results"
    overlay = tmp_path / "keep.yaml"
    overlay.write_text(
        yaml.safe_dump({"results_dir": str(results), "extraction": {"keep_trace_tables": True}})
    )
    target = f"{results}/features/stations.parquet"
    out = _snakemake("--configfile", "config/quick.yaml", str(overlay), target=target)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for sample in ("proton_00", "helium_00", "oxygen_00", "iron_00"):
        traces = pd.read_parquet(results / "stations" / f"{sample}.parquet")
        feats = pd.read_parquet(results / "features" / "per_file" / f"{sample}.parquet")
        quarantine = pd.read_parquet(
            results / "features" / "per_file" / f"{sample}.quarantine.parquet"
        )
        no_signal = quarantine[quarantine["reason"] == "zero_signal"]
        key = ["shower_id", "station_id"]
        assert set(map(tuple, traces[key].to_numpy())) == set(
            map(tuple, pd.concat([feats[key], no_signal[key]]).to_numpy())
        )
        assert traces["vem_trace"].map(len).eq(768).all()
        # The same stations and features as the quick run's, which kept no traces (the source
        # file column names each run's own copy of the simulated file).
        theirs = pd.read_parquet(quick_run / "features" / "per_file" / f"{sample}.parquet")
        assert (feats["source_file"] == str(results / "raw" / f"{sample}.root")).all()
        pd.testing.assert_frame_equal(
            feats.drop(columns="source_file"), theirs.drop(columns="source_file")
        )


def test_a_simulation_outside_the_sheet_fails_the_run_and_keeps_the_data(tmp_path):
    """Station triggers far above the sheet's: the multiplicity and trigger-curve checks fail,
    rule validate_simulation fails the run naming them, and the data computed before stay."""
    import yaml

    results = tmp_path / "results"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "results_dir": str(results),
                "data": {
                    "simulation": {
                        "settings": {
                            "triggers": {"threshold_ivem": [8.0, 9.0, 10.0], "tot_min_bins": 40}
                        }
                    }
                },
            }
        )
    )
    out = _snakemake(
        "--configfile", "config/quick.yaml", str(overlay), "--until", "validate_simulation"
    )
    assert out.returncode != 0
    log = (results / "logs" / "validate_simulation.log").read_text()
    assert "simulation check(s) outside tolerance" in log
    assert "trigger_efficiency_median" in log and "multiplicity (lg E" in log
    assert not (results / "validation" / "simulation_checks.json").exists()
    for sample in ("proton_00", "helium_00", "oxygen_00", "iron_00"):
        assert (results / "features" / "per_file" / f"{sample}.parquet").stat().st_size > 0
