"""Showers and their classes: the one place that groups stations into showers.

The primaries' class names (``CLASSES``, in label order), each station's shower row (``codes``),
one label per shower, zero-padded shower tensors for set networks, and the per-shower scores of
the product rule that evaluation, composition and application share (so their predicted
primaries agree). Display labels and colours of models and primaries are in ``uhecr.models`` and
``uhecr.reporting``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

CLASSES = ("proton", "helium", "oxygen", "iron")
N_CLASSES = len(CLASSES)


def shower_codes(groups, n_rows: int, model: str) -> np.ndarray:
    """Shower index 0..n_showers-1 of every station (sorted shower order)."""
    if groups is None or len(groups) != n_rows:
        raise ValueError(
            f"{model} is a shower-level model: it needs the shower of every station (groups)"
        )
    return np.unique(np.asarray(groups), return_inverse=True)[1].ravel()


def first_station(codes: np.ndarray) -> np.ndarray:
    """Index of the first station of every shower (in shower order)."""
    return np.unique(codes, return_index=True)[1]


def shower_labels(y, codes: np.ndarray, model: str) -> np.ndarray:
    """One label per shower; stations of one shower with different labels are an error."""
    y = np.asarray(y)
    labels = y[first_station(codes)]
    if (labels[codes] != y).any():
        raise ValueError(f"{model}: stations of one shower carry different labels")
    return labels


def pad_showers(X: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_showers, max_stations, n_features) zero-padded stations and the (n_showers,
    max_stations) mask of real ones; stations keep their order within a shower."""
    n = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(codes)) - np.repeat(starts, counts)
    padded = np.zeros((n, int(counts.max()), X.shape[1]), dtype=np.float32)
    mask = np.zeros((n, int(counts.max())), dtype=np.float32)
    padded[codes[order], position] = X[order]
    mask[codes[order], position] = 1.0
    return padded, mask


class ShowerScores(NamedTuple):
    """Stations grouped into showers (sorted by id); ``codes``: each station's shower row."""

    showers: np.ndarray
    codes: np.ndarray
    n_stations: np.ndarray
    score: np.ndarray  # (n_showers, n_classes): sum over the stations of log p_k
    label: np.ndarray

    def first(self, predictions: pd.DataFrame, column: str) -> np.ndarray:
        """Per shower, ``column`` of its first station (a shower-level quantity)."""
        return predictions.groupby(self.codes)[column].first().to_numpy()


def shower_log_scores(predictions: pd.DataFrame) -> ShowerScores:
    """Per shower, the sum over its stations of log p_k (the product rule's score, ``EVENT_RULE``),
    its station count and label.

    The one grouping that every shower-level result uses (evaluation, composition, application),
    so their predicted primaries agree. Stations of one shower with different labels are an error.
    """
    if predictions["label"].isna().any():
        raise ValueError("stations without a label (NaN): unlabelled stations carry label -1")
    proba_cols = [f"p_{c}" for c in CLASSES]
    logp = np.log(np.clip(predictions[proba_cols].to_numpy(dtype=float), 1e-300, None))
    codes, showers = pd.factorize(predictions["shower_id"], sort=True)
    score = np.zeros((len(showers), len(CLASSES)))
    np.add.at(score, codes, logp)
    n_stations = np.bincount(codes, minlength=len(showers))
    labels = predictions.groupby(codes)["label"].agg(["min", "max"])
    if (labels["min"] != labels["max"]).any():
        bad = showers[labels.index[labels["min"] != labels["max"]][0]]
        raise ValueError(f"shower {bad!r} has stations with different true primaries")
    return ShowerScores(np.asarray(showers), codes, n_stations, score, labels["min"].to_numpy())
