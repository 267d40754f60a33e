"""Applying trained models to new ROOT files (labelled or not): per-station and per-shower
predictions and the fitted primary fractions, with the exact model and inputs recorded.

The new files go through the same extraction and features as the training files (rule
``apply_extract``) and the same station selection; each model is the
MLflow model saved by rule ``evaluate`` (``uhecr.model_store``), loaded, never refit. The
fraction fit uses as templates the model's own held-out test showers (labelled, never trained
or selected on), with the settings of config section ``composition``, whose pseudo-experiments
give the bias and coverage of the method at these settings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from uhecr import composition, domain, extraction, model_store, provenance
from uhecr.io import InputDataError
from uhecr.showers import CLASSES, shower_log_scores

log = logging.getLogger(__name__)

STATION_COLUMNS = ["shower_id", "station_id", "lg_energy", "zenith_deg", "core_distance_m"]


def check_not_training_data(dataset: str, files: list[dict], training_summary: dict) -> None:
    """Applying a model to its own training files gives optimistic, meaningless results: a
    file of the dataset with the content (sha256) of a training input is an error."""
    trained = {
        f["sha256"]: (sample, f["file"])
        for sample, entries in training_summary.get("inputs", {}).items()
        for f in entries
    }
    for f in files:
        if f["sha256"] in trained:
            sample, path = trained[f["sha256"]]
            raise InputDataError(
                f"apply.datasets.{dataset}: {f['file']} has the same content as training "
                f"input {path} (sample {sample!r}): apply the models to data they were not "
                "trained, selected or tested on"
            )


def check_no_training_stations(dataset: str, table: pd.DataFrame, training_table) -> None:
    """Stations of the dataset whose data equal a training station's (the merge's content
    fingerprint, extraction.CONTENT_FINGERPRINT) are the training showers again, whatever the
    file's name, compression, format or branch subset: an error naming the dataset, the
    training samples and how many of the dataset's showers overlap."""
    fingerprint = list(extraction.CONTENT_FINGERPRINT)
    training = pd.read_parquet(training_table, columns=[*fingerprint, "shower_id", "sample"])
    same = table[[*fingerprint, "shower_id"]].merge(
        training, on=fingerprint, how="inner", suffixes=("", "_training")
    )
    if same.empty:
        return
    first = same.iloc[0]
    raise InputDataError(
        f"apply.datasets.{dataset}: {same['shower_id'].nunique()} of its "
        f"{table['shower_id'].nunique()} showers have stations identical to training data "
        f"(training samples {', '.join(sorted(map(str, same['sample'].unique())))}; e.g. "
        f"shower {first['shower_id']} = training shower {first['shower_id_training']}): a "
        "copy of training files (recompressed, converted or without some branches?); apply "
        "the models to data they were not trained, selected or tested on"
    )


def _labels(primary: pd.Series) -> np.ndarray:
    """Class index per station, -1 where unlabelled (files without a primary branch)."""
    index = {c: i for i, c in enumerate(CLASSES)}
    return primary.astype(str).map(index).fillna(-1).to_numpy(dtype=np.int64)


def shower_predictions(stations: pd.DataFrame) -> pd.DataFrame:
    """One row per shower: the normalised geometric mean of its stations' probabilities, the
    predicted primary (the product rule's) and the ln A estimate of the composition fit."""
    scores = shower_log_scores(stations)
    showers = composition.shower_observables(stations, scores=scores)
    # The argmax of the summed log-probabilities itself, as the evaluation takes it (the
    # normalised probabilities can round a near tie into an exact one).
    showers["prediction"] = np.asarray(CLASSES)[scores.score.argmax(axis=1)]
    return showers


OUTSIDE_BINS = "outside composition.lg_energy_bins"


def with_left_out(fractions: pd.DataFrame, showers: pd.DataFrame, edges) -> pd.DataFrame:
    """The fraction fit's rows with the showers it left out counted per bin and reason
    (``left_out``, ``left_out_reasons``): those outside the models' training domain, and a last
    row for the showers outside every lg E bin (none fitted there)."""
    edges = np.asarray(edges)
    bins = np.digitize(showers["lg_energy"].to_numpy(), edges) - 1
    outside_bins = (bins < 0) | (bins >= len(edges) - 1)
    reasons = pd.Series(
        [
            "; ".join(filter(None, [OUTSIDE_BINS if out else "", reason]))
            for out, reason in zip(outside_bins, showers["domain_reason"], strict=True)
        ],
        dtype=object,
    )
    fractions = fractions.copy()
    left = [reasons[(bins == b) & (reasons != "")] for b in fractions["lg_energy_bin"]]
    fractions["left_out"] = [len(r) for r in left]
    fractions["left_out_reasons"] = [domain.reason_counts(r) for r in left]
    if not outside_bins.any():
        return fractions
    row = {"lg_energy_bin": -1, "showers": 0, "status": f"{OUTSIDE_BINS}: not fitted"}
    row.update(
        left_out=int(outside_bins.sum()),
        left_out_reasons=domain.reason_counts(reasons[outside_bins]),
    )
    return pd.concat([fractions, pd.DataFrame([row])], ignore_index=True)


def apply_model(
    dataset: str,
    features_path,
    extraction_summary_path,
    model_dir,
    test_predictions_path,
    training_summary_path,
    training_table_path,
    selection: dict,
    composition_cfg: dict,
    hadronic_model: str,
    out_stations,
    out_showers,
    out_fractions,
    out_provenance,
    settings: dict | None = None,
) -> dict:
    """Rule apply_model: one saved model on one dataset."""
    dataset_summary = json.loads(Path(extraction_summary_path).read_text())
    training_summary = json.loads(Path(training_summary_path).read_text())
    check_not_training_data(dataset, dataset_summary["files"], training_summary)

    table = pd.read_parquet(features_path)
    check_no_training_stations(dataset, table, training_table_path)
    table, selected = extraction.select_stations(table, selection)
    if table.empty:
        raise InputDataError(
            f"apply.datasets.{dataset}: no station left after the station selection "
            f"(config key selection): {selected['left_out']}"
        )
    record = model_store.training_record(model_dir)
    model = model_store.load(model_dir)
    inputs = table[record["features"]].astype(np.float64)
    if record.get("level") == "shower":
        inputs["shower_id"] = table["shower_id"].astype(str)
    proba = model.predict(inputs)
    stations = table[STATION_COLUMNS].copy()
    stations["primary_true"] = table["primary"].astype(str)
    stations["label"] = _labels(table["primary"])
    for c in proba.columns:
        stations[c] = proba[c].to_numpy()
    stations["prediction"] = np.asarray(CLASSES)[proba.to_numpy().argmax(axis=1)]
    if "domain" not in record:
        raise model_store.DamagedModelError(
            f"saved model {model_dir}: its training record has no domain (saved by an older "
            f"version); rebuild it: snakemake --cores all --configfile <training config> "
            f"--force {model_dir}"
        )
    reasons = domain.station_reasons(table, record["domain"])
    stations["out_of_domain"] = (reasons != "").to_numpy()
    stations["domain_reason"] = reasons.to_numpy()
    stations.to_parquet(out_stations, index=False)

    showers = shower_predictions(stations).merge(
        domain.shower_reasons(table, reasons, record["domain"]), on="shower_id", how="left"
    )
    showers.insert(
        showers.columns.get_loc("domain_reason"), "out_of_domain", showers["domain_reason"] != ""
    )
    showers.to_parquet(out_showers, index=False)

    templates = composition.shower_observables(pd.read_parquet(test_predictions_path))
    settings = composition.CompositionSettings.from_config(composition_cfg, hadronic_model)
    fractions = composition.fit_sample(templates, showers[~showers["out_of_domain"]], settings)
    fractions = with_left_out(fractions, showers, settings.lg_energy_bins)
    fractions.insert(0, "model", record["fit"]["model"])
    fractions.insert(0, "dataset", dataset)
    fractions.to_csv(out_fractions, index=False)

    record_out = {
        "dataset": dataset,
        "inputs": dataset_summary["files"],
        "labelled": bool(dataset_summary.get("labelled")),
        "stations": int(len(stations)),
        "showers": int(len(showers)),
        "selection": selected,
        "model": {
            "directory": str(model_dir),
            "training": record,
            "files_sha256": model_store.checksums(model_dir),
        },
        "templates": {"test_predictions": str(test_predictions_path), "showers": len(templates)},
        "composition": composition_cfg,
        "settings": settings or {},
        "environment": provenance.environment_info(),
    }
    Path(out_provenance).write_text(
        json.dumps(provenance.redact(record_out), indent=2, default=str)
    )
    log.info(
        "applied %s to %s: %d stations, %d showers, bins fitted %s",
        record["fit"]["model"],
        dataset,
        len(stations),
        len(showers),
        fractions["status"].tolist(),
    )
    return record_out
