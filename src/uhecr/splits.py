"""Train / validation / test splits and their manifest.

Default: split **by shower** — all stations of one shower land on the same side — stratified by
primary, so no shower's MC energy and zenith (shared by its stations) leak from train to test.
``method: station`` reproduces the reference study's random station-level split.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def _assign_groups(groups: np.ndarray, strata: np.ndarray, fraction: float, rng) -> np.ndarray:
    """Boolean mask over rows: True for rows whose group is drawn into the held-out part.

    Groups are drawn per stratum until the held-out stations reach ``fraction`` of the stratum.
    """
    held = np.zeros(len(groups), dtype=bool)
    for stratum in np.unique(strata):
        rows = np.flatnonzero(strata == stratum)
        uniq, inverse, sizes = np.unique(groups[rows], return_inverse=True, return_counts=True)
        order = rng.permutation(len(uniq))
        cum = np.cumsum(sizes[order])
        n_take = int(np.searchsorted(cum, fraction * len(rows), side="left")) + 1
        chosen = np.zeros(len(uniq), dtype=bool)
        chosen[order[: min(n_take, len(uniq) - 1)]] = True
        held[rows] = chosen[inverse]
    return held


def make_split(
    df: pd.DataFrame, method: str, test_fraction: float, validation_fraction: float, seed: int
) -> pd.Series:
    """Split label per row of ``df`` (needs ``shower_id``, ``station_id``, ``primary``)."""
    if method not in ("shower", "station"):
        raise ValueError(f"config key splits.method must be 'shower' or 'station', got {method!r}")
    # Row order must not matter: sort by the stable id first.
    order = np.lexsort((df["station_id"].to_numpy(), df["shower_id"].to_numpy().astype(str)))
    sorted_df = df.iloc[order]
    if method == "shower":
        groups = sorted_df["shower_id"].to_numpy().astype(str)
    else:
        groups = (
            sorted_df["shower_id"].astype(str) + "/" + sorted_df["station_id"].astype(str)
        ).to_numpy()
    strata = sorted_df["primary"].astype(str).to_numpy()
    rng = np.random.default_rng([seed, 0 if method == "shower" else 1])
    test = _assign_groups(groups, strata, test_fraction, rng)
    val = np.zeros_like(test)
    rest = ~test
    val[rest] = _assign_groups(
        groups[rest], strata[rest], validation_fraction / (1 - test_fraction), rng
    )
    labels = np.where(test, "test", np.where(val, "validation", "train"))
    out = pd.Series(index=df.index[order], data=labels, name="split")
    return out.reindex(df.index)


def ids_hash(df: pd.DataFrame) -> str:
    keys = (df["shower_id"].astype(str) + "/" + df["station_id"].astype(str)).sort_values()
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def write_manifest(
    df: pd.DataFrame,
    split: pd.Series,
    method: str,
    seed: int,
    table_path: Path,
    manifest_path: Path,
    summary_path: Path,
) -> dict:
    """Ids per split (Parquet) plus counts and SHA-256 hashes of the sorted ids (JSON)."""
    manifest = pd.DataFrame(
        {
            "shower_id": df["shower_id"].astype(str),
            "station_id": df["station_id"],
            "primary": df["primary"].astype(str),
            "split": split,
        }
    )
    manifest.to_parquet(manifest_path, index=False)
    showers_by_split = {s: set(manifest.loc[manifest.split == s, "shower_id"]) for s in SPLITS}
    summary = {
        "method": method,
        "seed": seed,
        "table": str(table_path),
        "table_sha256": hashlib.sha256(Path(table_path).read_bytes()).hexdigest(),
        "counts": {
            s: manifest.loc[manifest.split == s, "primary"].value_counts().sort_index().to_dict()
            for s in SPLITS
        },
        "n_stations": {s: int((manifest.split == s).sum()) for s in SPLITS},
        "n_showers": {s: len(showers_by_split[s]) for s in SPLITS},
        "shared_showers_train_test": len(showers_by_split["train"] & showers_by_split["test"]),
        "ids_sha256": {s: ids_hash(manifest[manifest.split == s]) for s in SPLITS},
    }
    Path(summary_path).write_text(json.dumps(summary, indent=2))
    return summary


def load_split(table_path, manifest_path, features: list[str]):
    """Return {split: (X, y, frame)} for the feature columns, joined on the manifest ids."""
    df = pd.read_parquet(table_path)
    manifest = pd.read_parquet(manifest_path)
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise KeyError(
            f"config key models.features names unknown column(s) {missing}; "
            f"available: {sorted(df.columns)}"
        )
    df = df.merge(
        manifest[["shower_id", "station_id", "split"]],
        on=["shower_id", "station_id"],
        how="inner",
        validate="one_to_one",
    )
    if len(df) != len(manifest):
        raise ValueError(
            f"{manifest_path} does not match {table_path}: {len(manifest)} ids, {len(df)} joined"
        )
    df = df.sort_values(["shower_id", "station_id"], kind="stable").reset_index(drop=True)
    out = {}
    for s in SPLITS:
        part = df[df["split"] == s].reset_index(drop=True)
        out[s] = (
            part[features].to_numpy(dtype=np.float64),
            part["label"].to_numpy(dtype=np.int64),
            part,
        )
    return out


def subsample_showers(showers: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray | None:
    """Sorted row indices of whole showers, drawn in a seeded random order while their
    stations number at most ``max_rows``, and at least one shower (None: keep all). Whole
    showers, so that shower-level models see every station of a shower, as at test time."""
    if not max_rows or len(showers) <= max_rows:
        return None
    ids, counts = np.unique(showers, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_kept = max(1, int(np.count_nonzero(np.cumsum(counts[order]) <= max_rows)))
    return np.flatnonzero(np.isin(showers, ids[order[:n_kept]]))
