"""Held-out evaluation: accuracy with Wilson intervals, per-class metrics, paired comparisons."""

from __future__ import annotations

import logging

import pandas as pd

from uhecr import models, splits
from uhecr.features import CLASSES

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


__all__ = ["CLASSES", "leakage_study", "wilson_interval"]
