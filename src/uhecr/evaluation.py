"""Held-out evaluation: accuracy with Wilson intervals, per-class metrics, paired comparisons."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from uhecr import models, splits
from uhecr.features import CLASSES
from uhecr.models import LABELS

log = logging.getLogger(__name__)

# A plain, fixed XGBoost for the split-leakage measurement (not tuned: same for both splits).
LEAKAGE_MODEL = {
    "num_boost_round": 300,
    "learning_rate": 0.1,
    "max_depth": 6,
    "subsample": 0.9,
    "n_jobs": 2,
}


def wilson_interval(successes: int, n: int, confidence: float = 0.99) -> tuple[float, float]:
    """Wilson score interval (statsmodels), computed with the real number of trials ``n``."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        raise ValueError("Wilson interval needs n > 0")
    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def leakage_study(table_path, features: list[str], split_cfg: dict, seed: int) -> dict:
    """Test accuracy of one fixed model under the shower-level and the station-level split.

    Stations of one shower share MC energy and zenith (and nearly core geometry); with a random
    station-level split the test set holds showers already seen in training.
    """
    df = pd.read_parquet(table_path)
    result = {"model": "xgboost", "params": LEAKAGE_MODEL, "features": features}
    for method in ("shower", "station"):
        labels = splits.make_split(
            df, method, split_cfg["test_fraction"], split_cfg["validation_fraction"], seed
        )
        train, val, test = (df[labels == s] for s in ("train", "validation", "test"))
        model = models.build("xgboost", LEAKAGE_MODEL, seed)
        model.fit(
            train[features].to_numpy(),
            train["label"].to_numpy(),
            val[features].to_numpy(),
            val["label"].to_numpy(),
        )
        correct = int((model.predict(test[features].to_numpy()) == test["label"].to_numpy()).sum())
        n = len(test)
        lo, hi = wilson_interval(correct, n)
        shared = test["shower_id"].isin(set(train["shower_id"])).mean()
        result[method] = {
            "test_accuracy": correct / n,
            "wilson99": [lo, hi],
            "n_test": n,
            "fraction_test_stations_with_shower_in_train": float(shared),
        }
    result["inflation"] = result["station"]["test_accuracy"] - result["shower"]["test_accuracy"]
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


def _interval_record(successes: int, n: int, confidence: float) -> dict:
    lo, hi = wilson_interval(successes, n, confidence) if n else (float("nan"), float("nan"))
    return {"value": successes / n if n else float("nan"), "lower": lo, "upper": hi, "n": int(n)}


def classification_metrics(y_true, y_pred, confidence: float = 0.99) -> dict:
    """Accuracy, per-class recall/precision (Wilson intervals with their own n), confusion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    cm = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {}
    for k, name in enumerate(CLASSES):
        per_class[name] = {
            "recall": _interval_record(int(cm[k, k]), int(cm[k].sum()), confidence),
            "precision": _interval_record(int(cm[k, k]), int(cm[:, k].sum()), confidence),
        }
    return {
        "accuracy": _interval_record(int(np.trace(cm)), n, confidence),
        "confidence": confidence,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(CLASSES),
    }


def binned_accuracy(frame: pd.DataFrame, correct: np.ndarray, confidence: float = 0.99) -> dict:
    out = {}
    for column, edges in BINS.items():
        idx = np.digitize(frame[column].to_numpy(), edges) - 1
        rows = []
        for b in range(len(edges) - 1):
            sel = idx == b
            rec = _interval_record(int(correct[sel].sum()), int(sel.sum()), confidence)
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), **rec})
        out[column] = rows
    return out


def evaluate_on_test(model_name: str, best: dict, data: dict, seed: int, confidence: float = 0.99):
    """Refit the best configuration on train + validation, predict the held-out test set once."""
    (X, y, _), (Xv, yv, _), (Xt, yt, frame) = data["train"], data["validation"], data["test"]
    params = best.get("refit_params", best["params"])
    model = models.build(model_name, params, seed)
    model.fit(np.concatenate([X, Xv]), np.concatenate([y, yv]))
    proba = model.predict_proba(Xt)
    pred = model.predict(Xt)
    metrics = classification_metrics(yt, pred, confidence)
    metrics["binned"] = binned_accuracy(frame, pred == yt, confidence)
    metrics.update(
        {"model": model_name, "params": params, "seed": seed, "n_train": int(len(X) + len(Xv))}
    )
    predictions = frame[
        ["shower_id", "station_id", "label", "lg_energy", "zenith_deg", "core_distance_m"]
    ].copy()
    predictions["prediction"] = pred
    for k, name in enumerate(CLASSES):
        predictions[f"p_{name}"] = proba[:, k]
    return metrics, predictions


def paired_comparisons(predictions: dict[str, pd.DataFrame], alpha: float = 0.01) -> list[dict]:
    """Exact McNemar test for every model pair on the same test stations, Holm-corrected."""
    from itertools import combinations

    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    keys = ["shower_id", "station_id"]
    names = sorted(predictions)
    base = predictions[names[0]][keys + ["label"]]
    correct = {}
    for name in names:
        merged = base.merge(
            predictions[name][keys + ["prediction"]], on=keys, how="left", validate="one_to_one"
        )
        if merged["prediction"].isna().any():
            raise ValueError(f"model {name} lacks predictions for some test stations of {names[0]}")
        correct[name] = merged["prediction"].to_numpy() == merged["label"].to_numpy()
    rows = []
    for a, b in combinations(names, 2):
        ca, cb = correct[a], correct[b]
        table = [
            [int((ca & cb).sum()), int((ca & ~cb).sum())],
            [int((~ca & cb).sum()), int((~ca & ~cb).sum())],
        ]
        res = mcnemar(table, exact=True)
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "accuracy_a": float(ca.mean()),
                "accuracy_b": float(cb.mean()),
                "a_right_b_wrong": table[0][1],
                "a_wrong_b_right": table[1][0],
                "p_value": float(res.pvalue),
            }
        )
    if rows:
        reject, p_holm, _, _ = multipletests(
            [r["p_value"] for r in rows], alpha=alpha, method="holm"
        )
        for r, rej, ph in zip(rows, reject, p_holm, strict=True):
            r["p_holm"] = float(ph)
            r["significant"] = bool(rej)
    return rows


def reference_comparison(metrics: dict[str, dict], confidence: float = 0.99) -> pd.DataFrame:
    """Our test accuracies next to the reference study's Table 7.13, with its intervals recomputed."""
    rows = []
    for name, (acc, stated) in REFERENCE_TABLE_7_13.items():
        lo, hi = wilson_interval(round(acc * REFERENCE_TEST_N), REFERENCE_TEST_N, confidence)
        lo_all, hi_all = wilson_interval(round(acc * REFERENCE_ALL_N), REFERENCE_ALL_N, confidence)
        row = {
            "model": name,
            "label": LABELS[name],
            "reference_accuracy": acc,
            "reference_stated_halfwidth": stated,
            "reference_halfwidth_n_test": (hi - lo) / 2,
            "reference_halfwidth_n_all": (hi_all - lo_all) / 2,
        }
        if name in metrics:
            a = metrics[name]["accuracy"]
            row.update(
                {"accuracy": a["value"], "lower": a["lower"], "upper": a["upper"], "n_test": a["n"]}
            )
        rows.append(row)
    return pd.DataFrame(rows)
