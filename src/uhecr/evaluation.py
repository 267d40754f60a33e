"""Held-out evaluation: per-station and per-shower accuracy, per-class metrics, comparisons.

Every interval on a station-level quantity resamples whole showers (``uhecr.uncertainty``); the
Wilson interval with the station count is kept only as the labelled "as if stations were
independent" column, the reference study's convention. Per-shower (event) accuracies use the
Wilson interval with the number of showers: showers are independent.

Size: one concern, the metrics of the held-out test set; the per-station, per-shower, binned and
paired metrics share the same predictions table and interval settings.
"""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np
import pandas as pd

from uhecr import models, splits
from uhecr.models import LABELS
from uhecr.showers import CLASSES, shower_log_scores
from uhecr.uncertainty import (
    IntervalSettings,
    cluster_robust_se,
    clustered_proportion,
    paired_difference,
    per_shower_sums,
    wilson_interval,
)

log = logging.getLogger(__name__)

__all__ = ["IntervalSettings", "wilson_interval"]

# A plain, fixed XGBoost for the split-leakage measurement (not tuned: same for both splits).
LEAKAGE_MODEL = {
    "num_boost_round": 300,
    "learning_rate": 0.1,
    "max_depth": 6,
    "subsample": 0.9,
}

EVENT_RULE = (
    "A shower's class is the argmax over k of sum_i log p_k(station i) over its test stations: "
    "the product of the stations' class probabilities, i.e. the Bayes rule if stations were "
    "independent given the class and the classes equally likely. For models whose "
    "probabilities are a softmax of scores (SVM margins, autoencoder errors) it equals the "
    "argmax of the summed scores, whatever their scale, so it needs no calibration."
)


def shower_constant_features(df: pd.DataFrame, features: list[str]) -> list[str]:
    """Features that take one value per shower (energy, zenith, the shower's azimuth...)."""
    varying = df.groupby("shower_id", observed=True)[features].nunique().max()
    return [f for f in features if varying[f] <= 1]


def leakage_study(
    table_path, features: list[str], split_cfg: dict, intervals: IntervalSettings, threads: int = 1
) -> dict:
    """Test accuracy of one fixed model under the shower-level and the station-level split.

    Stations of one shower share MC energy and zenith (and nearly core geometry); with a random
    station-level split the test set holds showers already seen in training. The study is run
    with all features and again without the features that are constant within a shower, so
    memorisation of a shower's values and physics are separated.
    """
    df = pd.read_parquet(table_path)
    constant = shower_constant_features(df, features)
    variants = {"all_features": list(features)}
    reduced = [f for f in features if f not in constant]
    if reduced and constant:
        variants["without_shower_constant_features"] = reduced
    params = dict(LEAKAGE_MODEL)
    result = {
        "model": "xgboost",
        "params": params,
        "features": list(features),
        "shower_constant_features": constant,
        "variants": {},
    }
    labels = {
        method: splits.make_split(
            df, method, split_cfg["test_fraction"], split_cfg["validation_fraction"], intervals.seed
        )
        for method in ("shower", "station")
    }
    for variant, cols in variants.items():
        rows = {"features": cols}
        for method, lab in labels.items():
            train, val, test = (df[lab == s] for s in ("train", "validation", "test"))
            model = models.build("xgboost", params, intervals.seed, threads)
            model.fit(
                train[cols].to_numpy(),
                train["label"].to_numpy(),
                val[cols].to_numpy(),
                val["label"].to_numpy(),
            )
            correct = model.predict(test[cols].to_numpy()) == test["label"].to_numpy()
            k, n = per_shower_sums(test["shower_id"], correct, np.ones(len(test)))
            acc = clustered_proportion(k, n, intervals, ("leakage", variant, method))
            acc["fraction_test_stations_with_shower_in_train"] = float(
                test["shower_id"].isin(set(train["shower_id"])).mean()
            )
            rows[method] = acc
        rows["inflation"] = rows["station"]["value"] - rows["shower"]["value"]
        result["variants"][variant] = rows
    return result


# Reference study, Table 7.13: test accuracy and its stated 99 % half-width. Its test set had
# n = 16,016 stations; the half-widths correspond to n = 80,089 (the whole data set).
REFERENCE_TABLE_7_13 = {
    "svm": (0.64036, 0.0043678),
    "xgboost": (0.88519, 0.0029017),
    "dae": (0.69825, 0.0041778),
    "sdae": (0.56267, 0.0045149),
    "vae": (0.38315, 0.0044247),
}
REFERENCE_TEST_N = 16_016
REFERENCE_ALL_N = 80_089
BINS = {
    "lg_energy": np.linspace(18.5, 20.0, 7),
    "zenith_deg": np.degrees(np.arccos(np.sqrt(np.linspace(1.0, 0.25, 6)))),  # equal in cos^2
    "core_distance_m": np.array([0, 500, 1000, 1500, 2000, 3000, 50_000], dtype=float),
}


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """Counts of (true class, predicted class) over the four classes."""
    cm = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def largest_class_share(y_true) -> float:
    """The chance level: the accuracy of always guessing the most frequent class."""
    y_true = np.asarray(y_true)
    return float(np.bincount(y_true, minlength=len(CLASSES)).max() / max(len(y_true), 1))


def classification_metrics(
    y_true, y_pred, shower_ids, intervals: IntervalSettings, prefix: str = "station"
) -> dict:
    """Accuracy and per-class recall/precision over stations, shower-bootstrap intervals."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred)
    correct = y_true == y_pred

    def proportion(name, success, trial):
        k, n = per_shower_sums(shower_ids, success, trial)
        return clustered_proportion(k, n, intervals, (prefix, name))

    accuracy = proportion("accuracy", correct, np.ones(len(correct)))
    accuracy["se_cluster_robust"] = cluster_robust_se(correct, shower_ids)
    per_class = {}
    for k, name in enumerate(CLASSES):
        per_class[name] = {
            "recall": proportion(f"recall-{name}", correct & (y_true == k), y_true == k),
            "precision": proportion(f"precision-{name}", correct & (y_pred == k), y_pred == k),
        }
    return {
        "accuracy": accuracy,
        "confidence": intervals.confidence,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(CLASSES),
        "chance_accuracy": largest_class_share(y_true),
    }


def binned_accuracy(
    frame: pd.DataFrame, y_true, correct: np.ndarray, intervals, prefix="binned"
) -> dict:
    """Accuracy in bins of energy, zenith and core distance, shower-bootstrap intervals, and
    each bin's chance level (its largest class share: classes are not balanced within bins)."""
    y_true = np.asarray(y_true)
    out = {}
    for column, edges in BINS.items():
        idx = np.digitize(frame[column].to_numpy(), edges) - 1
        rows = []
        for b in range(len(edges) - 1):
            sel = idx == b
            k, n = per_shower_sums(frame["shower_id"], correct & sel, sel)
            rec = clustered_proportion(k, n, intervals, (prefix, column, b))
            rows.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    **rec,
                    "chance_accuracy": largest_class_share(y_true[sel]),
                }
            )
        out[column] = rows
    return out


SHOWER_BINS = {column: BINS[column] for column in ("lg_energy", "zenith_deg")}


def binned_event_accuracy(showers: pd.DataFrame, confidence: float) -> dict:
    """Per-shower accuracy in bins of lg E and zenith: Wilson intervals with the number of
    showers in the bin (showers are independent), and the bin's largest class share."""
    y, p = showers["label"].to_numpy(), showers["prediction"].to_numpy()
    out = {}
    for column, edges in SHOWER_BINS.items():
        if column not in showers:
            continue
        idx = np.digitize(showers[column].to_numpy(), edges) - 1
        rows = []
        for b in range(len(edges) - 1):
            sel = idx == b
            n, k = int(sel.sum()), int((sel & (y == p)).sum())
            lo, hi = wilson_interval(k, n, confidence) if n else (np.nan, np.nan)
            rows.append(
                {
                    "low": float(edges[b]),
                    "high": float(edges[b + 1]),
                    "value": k / n if n else np.nan,
                    "lower": lo,
                    "upper": hi,
                    "n": n,
                    "chance_accuracy": largest_class_share(y[sel]) if n else np.nan,
                }
            )
        out[column] = rows
    return out


def combine_stations(predictions: pd.DataFrame) -> pd.DataFrame:
    """One prediction per shower from its stations' class probabilities (``EVENT_RULE``)."""
    scores = shower_log_scores(predictions)
    out = pd.DataFrame(
        {
            "shower_id": scores.showers,
            "n_stations": scores.n_stations,
            "label": scores.label,
            "prediction": scores.score.argmax(axis=1),
        }
    )
    for column in SHOWER_BINS:  # shower-level quantities, the same for all its stations
        if column in predictions:
            out[column] = scores.first(predictions, column)
    return out


def event_metrics(showers: pd.DataFrame, confidence: float) -> dict:
    """Per-shower accuracy and recall: Wilson intervals with the number of showers."""
    y, p = showers["label"].to_numpy(), showers["prediction"].to_numpy()
    cm = confusion_matrix(y, p)
    n, k = len(y), int((y == p).sum())
    lo, hi = wilson_interval(k, n, confidence)
    recall = {}
    for c, name in enumerate(CLASSES):
        nc = int(cm[c].sum())
        rl, rh = wilson_interval(int(cm[c, c]), nc, confidence) if nc else (np.nan, np.nan)
        recall[name] = {"value": cm[c, c] / nc if nc else np.nan, "lower": rl, "upper": rh, "n": nc}
    return {
        "rule": EVENT_RULE,
        "accuracy": {
            "value": k / n,
            "lower": lo,
            "upper": hi,
            "n": n,
            "method": "Wilson score (showers are independent)",
            "confidence": confidence,
        },
        "recall": recall,
        "confusion_matrix": cm.tolist(),
        "chance_accuracy": largest_class_share(y),
        "mean_stations_per_shower": float(showers["n_stations"].mean()),
        "binned": binned_event_accuracy(showers, confidence),
    }


def predict_test(
    model_name: str, best: dict, data: dict, seed: int, threads: int = 1, features=None
):
    """Refit the best configuration on train + validation and predict the test set, once.

    Returns the per-station predictions (with class probabilities and the columns the metrics
    need), a record of the fit and the fitted model; the metrics are computed separately
    (``compute_test_metrics``), so a change of the interval settings never refits a model."""
    (X, y, fr), (Xv, yv, frv), (Xt, yt, frame) = data["train"], data["validation"], data["test"]
    params = best.get("refit_params", best["params"])
    model = models.build(model_name, params, seed, threads, features)
    showers = np.concatenate([fr["shower_id"].to_numpy(), frv["shower_id"].to_numpy()])
    model.fit(np.concatenate([X, Xv]), np.concatenate([y, yv]), groups=showers)
    test_showers = frame["shower_id"].to_numpy()
    proba = model.predict_proba(Xt, test_showers)
    predictions = frame[
        ["shower_id", "station_id", "label", "lg_energy", "zenith_deg", "core_distance_m"]
    ].copy()
    predictions["label"] = yt
    predictions["prediction"] = proba.argmax(axis=1)
    for k, name in enumerate(CLASSES):
        predictions[f"p_{name}"] = proba[:, k]
    fit = {
        "model": model_name,
        "level": model.level,
        "params": params,
        "seed": seed,
        # The networks' float sums run in another order with other thread counts (Snakemake
        # lowers a rule's threads to --cores): part of what the result depends on.
        "threads": int(threads),
        "n_train": int(len(X) + len(Xv)),
        "n_train_showers": int(len(np.unique(showers))),
    }
    return predictions, fit, model


def compute_test_metrics(
    predictions: pd.DataFrame, fit: dict, intervals: IntervalSettings, split_method: str = "shower"
) -> dict:
    """Per-station and per-shower metrics of one model's test predictions.

    ``unit``: what the headline metrics (accuracy, recall, confusion, binned) count. A station
    model is scored per station (shower bootstrap) and, in ``event_level``, per shower with its
    stations combined. A shower-level model predicts once per shower: every metric counts
    showers (each its own resampling unit), and there are no per-station numbers."""
    name = fit["model"]
    unit = fit.get("level", "station")
    showers = combine_stations(predictions)
    scored = predictions if unit == "station" else showers
    y, pred = scored["label"].to_numpy(), scored["prediction"].to_numpy()
    metrics = classification_metrics(y, pred, scored["shower_id"].to_numpy(), intervals, name)
    metrics["unit"] = unit
    # Station bins (incl. core distance) only where stations are the unit.
    metrics["binned"] = (
        binned_accuracy(predictions, y, pred == y, intervals, prefix=name)
        if unit == "station"
        else None
    )
    metrics["event_level"] = event_metrics(showers, intervals.confidence)
    if split_method != "shower":
        # With a station split a test shower's other stations were seen in training.
        metrics["event_level"]["warning"] = (
            f"splits.method is {split_method!r}: showers are split across train and test, so "
            "the per-shower accuracy uses only each shower's test stations and is not a "
            "held-out shower accuracy"
        )
    metrics.update(
        {
            **fit,
            "split_method": split_method,
            "intervals": {
                "resampling_unit": "shower",
                "method": intervals.method,
                "n_resamples": intervals.n_resamples,
                "n_permutations": intervals.n_permutations,
                "min_showers": intervals.min_showers,
                "confidence": intervals.confidence,
                "label": intervals.label,
                "seed": intervals.seed,
            },
        }
    )
    return metrics


def paired_comparisons(
    predictions: dict[str, pd.DataFrame],
    intervals: IntervalSettings,
    units: dict[str, str] | None = None,
) -> list[dict]:
    """Every model pair, shower as resampling unit, Holm-corrected over all rows at
    alpha = 1 - confidence (0.01 for the default 99 %).

    Station-level models are compared on the same test stations (``unit`` "station"); every
    model, station-level ones with their stations combined, on the same test showers
    (``unit`` "shower"). ``units``: model -> its unit (default "station"); shower-level models
    have no per-station comparison. The decision uses the shower-level sign-flip permutation
    test; the exact McNemar p-value (which treats the compared units as independent) is kept
    as a labelled column for comparison.
    """
    from statsmodels.stats.multitest import multipletests

    units = {n: (units or {}).get(n, "station") for n in predictions}
    rows = _paired_rows(
        {n: p for n, p in predictions.items() if units[n] == "station"}, intervals, "station"
    )
    showers = {n: combine_stations(p) for n, p in predictions.items()}
    rows += _paired_rows(showers, intervals, "shower")
    if rows:
        alpha = 1.0 - intervals.confidence
        p_values = [1.0 if np.isnan(r["p_value"]) else r["p_value"] for r in rows]
        reject, p_holm, _, _ = multipletests(p_values, alpha=alpha, method="holm")
        for r, rej, ph in zip(rows, reject, p_holm, strict=True):
            r["p_holm"] = float(ph) if not np.isnan(r["p_value"]) else float("nan")
            r["significant"] = bool(rej) and not np.isnan(r["p_value"])
            r["alpha"] = alpha
    return rows


def _paired_rows(predictions: dict[str, pd.DataFrame], intervals, unit: str) -> list[dict]:
    """Every pair of ``predictions`` (per station, or per shower: one row each) on the same
    units; the resampling unit is the shower either way."""
    from statsmodels.stats.contingency_tables import mcnemar

    keys = ["shower_id", "station_id"] if unit == "station" else ["shower_id"]
    names = sorted(predictions)
    if len(names) < 2:
        return []
    base = predictions[names[0]][keys + ["label"]]
    correct = {}
    for name in names:
        merged = base.merge(
            predictions[name][keys + ["prediction"]], on=keys, how="left", validate="one_to_one"
        )
        if merged["prediction"].isna().any() or len(predictions[name]) != len(base):
            raise ValueError(f"model {name} lacks predictions for some test {unit}s of {names[0]}")
        correct[name] = merged["prediction"].to_numpy() == merged["label"].to_numpy()
    shower_ids = base["shower_id"].to_numpy()
    rows = []
    for a, b in combinations(names, 2):
        ca, cb = correct[a], correct[b]
        table = [
            [int((ca & cb).sum()), int((ca & ~cb).sum())],
            [int((~ca & cb).sum()), int((~ca & ~cb).sum())],
        ]
        diff = paired_difference(ca, cb, shower_ids, intervals, ("pair", unit, a, b))
        rows.append(
            {
                "unit": unit,
                "model_a": a,
                "model_b": b,
                "accuracy_a": float(ca.mean()),
                "accuracy_b": float(cb.mean()),
                "difference": diff["difference"],
                "difference_lower": diff["lower"],
                "difference_upper": diff["upper"],
                "design_effect": diff["design_effect"],
                "n_stations": diff["n"],
                "n_showers": diff["n_showers"],
                "a_right_b_wrong": table[0][1],
                "a_wrong_b_right": table[1][0],
                "p_value": diff["p_value"],
                "p_mcnemar_independent": float(mcnemar(table, exact=True).pvalue),
            }
        )
    return rows


COMPARISON_COLUMNS = [
    "unit",
    "model_a",
    "model_b",
    "accuracy_a",
    "accuracy_b",
    "difference",
    "difference_lower",
    "difference_upper",
    "design_effect",
    "n_stations",
    "n_showers",
    "a_right_b_wrong",
    "a_wrong_b_right",
    "p_value",
    "p_mcnemar_independent",
    "p_holm",
    "significant",
    "alpha",
]


def reference_comparison(metrics: dict[str, dict], confidence: float = 0.99) -> pd.DataFrame:
    """Our test accuracies next to the reference study's Table 7.13, with its intervals recomputed."""
    rows = []
    # The study's models first (with its numbers), then models it did not have.
    names = list(REFERENCE_TABLE_7_13) + [m for m in metrics if m not in REFERENCE_TABLE_7_13]
    for name in names:
        row = {"model": name, "label": LABELS.get(name, name)}
        if name in REFERENCE_TABLE_7_13:
            acc, stated = REFERENCE_TABLE_7_13[name]
            lo, hi = wilson_interval(round(acc * REFERENCE_TEST_N), REFERENCE_TEST_N, confidence)
            lo_all, hi_all = wilson_interval(
                round(acc * REFERENCE_ALL_N), REFERENCE_ALL_N, confidence
            )
            row.update(
                {
                    "reference_accuracy": acc,
                    "reference_stated_halfwidth": stated,
                    "reference_halfwidth_n_test": (hi - lo) / 2,
                    "reference_halfwidth_n_all": (hi_all - lo_all) / 2,
                }
            )
        if name in metrics:
            a = metrics[name]["accuracy"]
            ev = metrics[name]["event_level"]["accuracy"]
            row.update(
                {
                    "unit": metrics[name].get("unit", "station"),
                    "confidence": a["confidence"],
                    "accuracy": a["value"],
                    "lower": a["lower"],
                    "upper": a["upper"],
                    "n_test": a["n"],
                    "n_test_showers": a["n_showers"],
                    "design_effect": a["design_effect"],
                    "n_effective": a["n_effective"],
                    "wilson_independent_lower": a["wilson_independent"][0],
                    "wilson_independent_upper": a["wilson_independent"][1],
                    "chance_accuracy": metrics[name]["chance_accuracy"],
                    "event_accuracy": ev["value"],
                    "event_lower": ev["lower"],
                    "event_upper": ev["upper"],
                    "event_n": ev["n"],
                    "event_chance_accuracy": metrics[name]["event_level"]["chance_accuracy"],
                    "interval_label": metrics[name]["intervals"]["label"],
                    "split_method": metrics[name]["split_method"],
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)
