"""Glue between Snakemake rules and the package: each function takes the ``snakemake`` object.

Kept free of logic: it reads the rule's inputs/outputs/params, sets up logging to the rule's
log file and calls one function of the package.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("uhecr")


def _setup_logging(smk) -> None:
    log_file = Path(str(smk.log[0]))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=log_file,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)


def _inject_failure_once(rule: str, smk) -> None:
    """Fault injection for the retry tests: ``UHECR_FAIL_ONCE=<rule>:<marker folder>`` makes the
    first attempt of each job of that rule fail (a marker file records the attempt)."""
    spec = os.environ.get("UHECR_FAIL_ONCE")
    if not spec:
        return
    target, _, folder = spec.partition(":")
    if target != rule:
        return
    marker = Path(folder) / f"{rule}-{'-'.join(str(v) for v in smk.wildcards) or 'job'}.failed"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("failed once on purpose\n")
        raise RuntimeError(f"injected failure of rule {rule} (UHECR_FAIL_ONCE), marker {marker}")


def rule_entry(func):
    """Log to the rule's log file, and record the full error there before re-raising."""

    @functools.wraps(func)
    def wrapper(smk):
        _setup_logging(smk)
        log.info(
            "rule %s: inputs %s -> outputs %s", func.__name__, list(smk.input), list(smk.output)
        )
        try:
            _inject_failure_once(func.__name__, smk)
            return func(smk)
        except Exception as exc:
            log.exception("rule %s failed: %s", func.__name__, exc)
            print(f"ERROR in rule {func.__name__}: {exc}", file=sys.stderr)
            raise

    return wrapper


@rule_entry
def simulate(smk):
    from uhecr import io, physics
    from uhecr import simulation as sim

    cfg = smk.params.simulation
    sample = smk.wildcards.sample
    primary, index = sample.rsplit("_", 1)
    settings = sim.SimulationSettings.from_dict(cfg.get("settings", {}))
    n_files = cfg["files_per_primary"]
    n_stations = -(-cfg["stations_per_primary"] // n_files)
    primary_key = list(physics.PRIMARY_MASS).index(primary)
    first_event_id = (primary_key * 1000 + int(index)) * 10_000_000
    metadata = {
        "generator": "uhecr toy simulation",
        "primary": primary,
        "file_index": int(index),
        "seed": smk.params.seed,
        "settings": cfg.get("settings", {}),
    }
    counts = io.write_detector_file(
        smk.output[0],
        sim.simulate_primary_file(
            primary, n_stations, smk.params.seed, int(index), settings, first_event_id
        ),
        physics.PRIMARY_PDG[primary],
        metadata,
        fmt=cfg.get("format", "ttree"),
    )
    log.info("wrote %s: %s", smk.output[0], counts)


def _feature_settings(params):
    from uhecr.features import FeatureSettings

    return FeatureSettings(**params.features)


@rule_entry
def extract_stations(smk):
    from uhecr import extraction
    from uhecr.io import InputLayout

    ext = smk.params.extraction
    summary = extraction.extract_station_table(
        smk.input[0],
        smk.output.stations,
        smk.output.quarantine,
        InputLayout.from_config(ext),
        _feature_settings(smk.params),
        step_size=ext["step_size"],
        on_bad_station=ext["on_bad_station"],
        sample=smk.wildcards.sample,
        config_key=smk.params.config_key or None,
        summary_path=smk.output.summary,
    )
    log.info("summary %s", json.dumps(summary))


@rule_entry
def compute_features(smk):
    from uhecr import extraction

    summary = extraction.compute_feature_table(
        smk.input[0],
        smk.output.features,
        smk.output.quarantine,
        _feature_settings(smk.params),
        on_bad_station=smk.params.extraction["on_bad_station"],
    )
    log.info("summary %s", json.dumps(summary))


@rule_entry
def merge_features(smk):
    from uhecr import extraction

    summary = extraction.merge_feature_tables(
        list(smk.input.features),
        list(smk.input.quarantine),
        smk.output.table,
        smk.output.quarantine,
        smk.output.summary,
        station_summaries=list(smk.input.summaries),
    )
    log.info("summary %s", json.dumps(summary, default=str))


@rule_entry
def validate_simulation(smk):
    from uhecr import simulation_validation

    checks = simulation_validation.run_checks(
        list(smk.input.raw),
        smk.input.table,
        smk.params.simulation,
        smk.params.seed,
        figures={
            "xmax": smk.output.xmax,
            "multiplicity": smk.output.multiplicity,
            "risetime": smk.output.risetime,
            "fluctuations": smk.output.fluctuations,
        },
    )
    Path(smk.output.checks).write_text(json.dumps(checks, indent=2))


# --------------------------------------------------------------------------- splits & search
def _tracking_uri(params) -> str:
    uri = params.search.get("tracking_uri")
    if uri:
        return uri
    # MLflow 3's file store is in maintenance mode; a local SQLite database is its successor.
    path = Path(params.mlflow_db).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _storage(params, study_json: str):
    """Optuna storage; the default journal file sits next to the sweep's study.json."""
    from uhecr import search

    return search.storage_for(params.search["storage"], Path(study_json).parent / "optuna.journal")


@rule_entry
def split(smk):
    import pandas as pd

    from uhecr import splits

    cfg = smk.params.splits
    df = pd.read_parquet(smk.input[0], columns=["shower_id", "station_id", "primary"])
    labels = splits.make_split(
        df, cfg["method"], cfg["test_fraction"], cfg["validation_fraction"], smk.params.seed
    )
    summary = splits.write_manifest(
        df,
        labels,
        cfg["method"],
        smk.params.seed,
        Path(smk.input[0]),
        Path(smk.output.manifest),
        Path(smk.output.summary),
    )
    log.info("split summary %s", json.dumps(summary))


@rule_entry
def leakage_study(smk):
    from uhecr import evaluation

    intervals = evaluation.IntervalSettings.from_config(smk.params.evaluation, smk.params.seed)
    result = evaluation.leakage_study(
        smk.input.table, smk.params.features, smk.params.splits, intervals, threads=smk.threads
    )
    Path(smk.output[0]).write_text(json.dumps(result, indent=2))
    log.info("leakage %s", json.dumps(result))


@rule_entry
def create_study(smk):
    from uhecr import search

    model = smk.wildcards.model
    info = search.create_study(
        model,
        study_name=f"{smk.params.run_name}-{model}",
        storage=_storage(smk.params, smk.output[0]),
        tracking_uri=_tracking_uri(smk.params),
        experiment=f"{smk.params.run_name}-sweeps",
        config=smk.params.model_config,
        seed=smk.params.seed,
    )
    Path(smk.output[0]).write_text(json.dumps(info, indent=2))


def _load_data(table, manifest, features, max_train: int | None, seed: int) -> dict:
    import numpy as np

    from uhecr import splits

    data = splits.load_split(table, manifest, features)
    out = {s: (X, y) for s, (X, y, _) in data.items()}
    if max_train and len(out["train"][0]) > max_train:
        idx = np.sort(
            np.random.default_rng(seed).choice(len(out["train"][0]), max_train, replace=False)
        )
        out["train"] = (out["train"][0][idx], out["train"][1][idx])
    return out


@rule_entry
def search_worker(smk):
    from uhecr import search

    model = smk.wildcards.model
    info = json.loads(Path(smk.input.study).read_text())
    data = _load_data(
        smk.input.table,
        smk.input.manifest,
        smk.params.features,
        smk.params.search.get("max_train_samples"),
        smk.params.seed,
    )
    result = search.run_worker(
        model,
        smk.params.model_config,
        data,
        _storage(smk.params, smk.input.study),
        info,
        smk.wildcards.worker,
        smk.params.search,
        smk.params.seed,
        _tracking_uri(smk.params),
    )
    Path(smk.output[0]).write_text(json.dumps(result, indent=2))


@rule_entry
def collect_search(smk):
    from uhecr import search

    info = json.loads(Path(smk.input.study).read_text())
    summary, trials = search.summarise_study(
        info,
        _storage(smk.params, smk.input.study),
        smk.params.model_config,
        _tracking_uri(smk.params),
    )
    trials.to_csv(smk.output.trials, index=False)
    Path(smk.output.best).write_text(json.dumps(summary, indent=2, default=str))
    log.info("best %s", json.dumps(summary, default=str))


# --------------------------------------------------------------------------- evaluation & report
@rule_entry
def evaluate(smk):
    from uhecr import evaluation, splits

    model = smk.wildcards.model
    best = json.loads(Path(smk.input.best).read_text())
    data = splits.load_split(smk.input.table, smk.input.manifest, smk.params.features)
    intervals = evaluation.IntervalSettings.from_config(smk.params.evaluation, smk.params.seed)
    metrics, predictions = evaluation.evaluate_on_test(model, best, data, intervals)
    predictions.to_parquet(smk.output.predictions, index=False)
    Path(smk.output.metrics).write_text(json.dumps(metrics, indent=2, default=str))
    log.info("test accuracy %s", json.dumps(metrics["accuracy"]))


@rule_entry
def compare_models(smk):
    import pandas as pd

    from uhecr import evaluation, models

    predictions = {models.model_of(p): pd.read_parquet(p) for p in smk.input.predictions}
    intervals = evaluation.IntervalSettings.from_config(smk.params.evaluation, smk.params.seed)
    rows = evaluation.paired_comparisons(predictions, intervals)
    # With one model there is no pair: the table still has its header (a valid empty CSV).
    pd.DataFrame(rows, columns=evaluation.COMPARISON_COLUMNS).to_csv(
        smk.output.comparisons, index=False
    )
    metrics = {models.model_of(p): json.loads(Path(p).read_text()) for p in smk.input.metrics}
    evaluation.reference_comparison(metrics).to_csv(smk.output.reference, index=False)


@rule_entry
def model_figures(smk):
    from uhecr import reporting

    reporting.render_model_figures(
        smk.wildcards.model,
        smk.input.metrics,
        smk.input.trials,
        {
            "history": [smk.output.history],
            "params": [smk.output.params],
            "confusion": [smk.output.confusion],
        },
    )


@rule_entry
def summary_figures(smk):
    from uhecr import reporting

    reporting.render_summary(
        metrics_paths=list(smk.input.metrics),
        best_paths=list(smk.input.best),
        reference_path=smk.input.reference,
        comparisons_path=smk.input.comparisons,
        table_path=smk.input.table,
        features=smk.params.features,
        outputs={
            "accuracy": [smk.output.accuracy],
            "binned": [smk.output.binned],
            "features": [smk.output.features],
            "results_table": Path(smk.output.results_table).with_suffix(""),
            "comparisons_table": Path(smk.output.comparisons_table).with_suffix(""),
            "parameters_table": Path(smk.output.parameters_table).with_suffix(""),
        },
    )


@rule_entry
def leakage_table(smk):
    from uhecr import reporting

    reporting.render_leakage(smk.input[0], Path(smk.output.markdown).with_suffix(""))


@rule_entry
def paper(smk):
    from uhecr import reporting

    reporting.render_paper(
        outdir=Path(smk.output[0]),
        metrics_paths=list(smk.input.metrics),
        best_paths=list(smk.input.best),
        trials_paths=list(smk.input.trials),
        reference_path=smk.input.reference,
        comparisons_path=smk.input.comparisons,
        table_path=smk.input.table,
        checks_path=smk.input.checks,
        features=smk.params.features,
    )


# --------------------------------------------------------------------------- provenance & archive
@rule_entry
def provenance(smk):
    from uhecr import provenance as prov

    record = prov.run_provenance(
        dict(smk.params.config),
        list(smk.input.raw),
        list(smk.input.results),
        smk.params.benchmarks,
        repo=Path(smk.scriptdir).parent,
    )
    Path(smk.output.json).write_text(json.dumps(record, indent=2, default=str))
    Path(smk.output.markdown).write_text(prov.provenance_markdown(record))


@rule_entry
def zenodo(smk):
    from uhecr import archive

    record = json.loads(Path(smk.input.provenance).read_text())
    results = list(smk.input.results)
    per_model = [
        f
        for f in results
        if Path(f).parent.parent.name in ("evaluation", "search")
        and Path(f).parent.name not in ("evaluation", "search")
    ]
    info = archive.build_bundle(
        Path(smk.output[0]),
        run_name=smk.params.run_name,
        result_files={
            "results": [f for f in results if f not in per_model],
            "metrics": [f for f in per_model if Path(f).name == "metrics.json"],
            "search": [f for f in per_model if Path(f).name != "metrics.json"],
            "figures": [
                f for f in smk.input.figures if Path(f).parent.name in ("figures", "validation")
            ],
            "figures_models": [
                f for f in smk.input.figures if Path(f).parent.name not in ("figures", "validation")
            ],
        },
        config=dict(smk.params.config),
        repo=Path(smk.scriptdir).parent,
        provenance_file=smk.input.provenance,
        input_checksums=record["input_files"],
    )
    log.info("bundle %s", json.dumps(info))
