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
from dataclasses import dataclass
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


# What a station's recorded traces alone determine (its id and trace features): the same in a
# copy of the training events whose energy, direction or core came from another branch or
# another reconstruction, or were stored with another precision.
TRACE_FINGERPRINT = (
    "station_id",
    "total_signal_vem",
    "trace_length_ns",
    "rise_time_ns",
    "fall_time_ns",
    "area_over_peak",
    "peak_ivem",
)


def check_no_training_stations(dataset: str, table: pd.DataFrame, training_table) -> None:
    """Stations of the dataset whose data equal a training station's are the training showers
    again, whatever the file's name, compression, format or branch subset: an error naming the
    dataset, the training samples and how many of the dataset's showers overlap. Equal means
    the merge's content fingerprint (``extraction.CONTENT_FINGERPRINT``) or the station's id and
    trace features (``TRACE_FINGERPRINT``: the same recorded traces with the shower's energy,
    direction or core taken from elsewhere). The traces carry the detector's noise, so two
    different stations never share all trace features."""
    fingerprints = [list(extraction.CONTENT_FINGERPRINT), list(TRACE_FINGERPRINT)]
    columns = sorted({c for f in fingerprints for c in f})
    training = pd.read_parquet(training_table, columns=[*columns, "shower_id", "sample"])
    same = pd.concat(
        [
            table[[*f, "shower_id"]].merge(
                training[[*f, "shower_id", "sample"]], on=f, how="inner", suffixes=("", "_training")
            )[["shower_id", "shower_id_training", "sample"]]
            for f in fingerprints
        ],
        ignore_index=True,
    )
    if same.empty:
        return
    first = same.iloc[0]
    raise InputDataError(
        f"apply.datasets.{dataset}: {same['shower_id'].nunique()} of its "
        f"{table['shower_id'].nunique()} showers have stations identical to training data "
        f"(training samples {', '.join(sorted(map(str, same['sample'].unique())))}; e.g. "
        f"shower {first['shower_id']} = training shower {first['shower_id_training']}): a "
        "copy of training files (recompressed, converted, without some branches or with "
        "another energy or geometry?); apply the models to data they were not trained, "
        "selected or tested on"
    )


def _labels(primary: pd.Series) -> np.ndarray:
    """Class index per station, -1 where unlabelled (files without a primary branch)."""
    index = {c: i for i, c in enumerate(CLASSES)}
    return primary.astype(str).map(index).fillna(-1).to_numpy(dtype=np.int64)


def check_model_and_templates(model: str, model_dir, record: dict, test_fit_path) -> None:
    """The saved model in ``model_dir`` is the fit of model ``model`` whose held-out test
    predictions serve as the templates (``evaluation/<model>/fit.json``, written with them):
    a model directory copied in from another run, or another model's, is an error."""
    fitted = record.get("fit", {}).get("model")
    if fitted != model:
        raise model_store.DamagedModelError(
            f"saved model {model_dir}: it holds model {fitted!r}, not {model!r}; rebuild it: "
            f"snakemake --cores all --configfile <training config> --force {model_dir}"
        )
    templates_fit = json.loads(Path(test_fit_path).read_text())
    if templates_fit != record["fit"]:
        raise model_store.DamagedModelError(
            f"saved model {model_dir} and the templates' fit {test_fit_path} differ (another "
            "run's model, or a refit since): the fraction fit would use another fit's test "
            f"predictions; rebuild both: snakemake --cores all --configfile <training config> "
            f"--force {model_dir}"
        )


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


@dataclass(frozen=True)
class ApplyInputs:
    """What rule apply_model reads: the dataset's feature table and extraction summary, the
    saved model, its test predictions (the templates) and their fit record, and the training
    run's extraction summary and feature table (for the overlap checks)."""

    features: str
    summary: str
    model: str
    test_predictions: str
    test_fit: str
    training_summary: str
    training_table: str


@dataclass(frozen=True)
class ApplyOutputs:
    stations: str
    showers: str
    fractions: str
    provenance: str


def apply_model(
    dataset: str,
    model: str,
    inputs: ApplyInputs,
    outputs: ApplyOutputs,
    selection: dict,
    composition_cfg: dict,
    hadronic_model: str,
    settings: dict | None = None,
) -> dict:
    """Rule apply_model: one saved model on one dataset."""
    dataset_summary = json.loads(Path(inputs.summary).read_text())
    training_summary = json.loads(Path(inputs.training_summary).read_text())
    check_not_training_data(dataset, dataset_summary["files"], training_summary)

    table = pd.read_parquet(inputs.features)
    check_no_training_stations(dataset, table, inputs.training_table)
    table, selected = extraction.select_stations(table, selection)
    if table.empty:
        raise InputDataError(
            f"apply.datasets.{dataset}: no station left after the station selection "
            f"(config key selection): {selected['left_out']}"
        )
    record = model_store.training_record(inputs.model)
    check_model_and_templates(model, inputs.model, record, inputs.test_fit)
    classifier = model_store.load(inputs.model)
    model_input = table[record["features"]].astype(np.float64)
    if record.get("level") == "shower":
        model_input["shower_id"] = table["shower_id"].astype(str)
    proba = classifier.predict(model_input)
    stations = table[STATION_COLUMNS].copy()
    stations["primary_true"] = table["primary"].astype(str)
    stations["label"] = _labels(table["primary"])
    for c in proba.columns:
        stations[c] = proba[c].to_numpy()
    stations["prediction"] = np.asarray(CLASSES)[proba.to_numpy().argmax(axis=1)]
    if "domain" not in record:
        raise model_store.DamagedModelError(
            f"saved model {inputs.model}: its training record has no domain (saved by an older "
            f"version); rebuild it: snakemake --cores all --configfile <training config> "
            f"--force {inputs.model}"
        )
    reasons = domain.station_reasons(table, record["domain"])
    stations["out_of_domain"] = (reasons != "").to_numpy()
    stations["domain_reason"] = reasons.to_numpy()
    stations.to_parquet(outputs.stations, index=False)

    showers = shower_predictions(stations).merge(
        domain.shower_reasons(table, reasons, record["domain"]), on="shower_id", how="left"
    )
    showers.insert(
        showers.columns.get_loc("domain_reason"), "out_of_domain", showers["domain_reason"] != ""
    )
    showers.to_parquet(outputs.showers, index=False)

    templates = composition.shower_observables(pd.read_parquet(inputs.test_predictions))
    fit_settings = composition.CompositionSettings.from_config(composition_cfg, hadronic_model)
    fractions = composition.fit_sample(templates, showers[~showers["out_of_domain"]], fit_settings)
    fractions = with_left_out(fractions, showers, fit_settings.lg_energy_bins)
    fractions.insert(0, "model", record["fit"]["model"])
    fractions.insert(0, "dataset", dataset)
    fractions.to_csv(outputs.fractions, index=False)

    record_out = {
        "dataset": dataset,
        "inputs": dataset_summary["files"],
        "labelled": bool(dataset_summary.get("labelled")),
        "stations": int(len(stations)),
        "showers": int(len(showers)),
        "selection": selected,
        "model": {
            "directory": str(inputs.model),
            "training": record,
            "files_sha256": model_store.checksums(inputs.model),
        },
        "templates": {"test_predictions": str(inputs.test_predictions), "showers": len(templates)},
        "composition": composition_cfg,
        "settings": settings or {},
        "environment": provenance.environment_info(),
    }
    Path(outputs.provenance).write_text(
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
