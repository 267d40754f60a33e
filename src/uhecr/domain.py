"""A saved model's training domain, and where new stations and showers leave it.

The rule (docs/apply.md): a station is outside the domain when one of the model's features, or
its lg E, zenith angle or core distance, lies outside the [min, max] over the stations the model
was fitted on; a shower is outside when one of its stations is, or when its number of selected
stations lies outside the range of the training showers'. Beyond these ranges every model
extrapolates (trees hold their last value, networks run on), so its classes are not trusted:
such showers are flagged, with the reason, and left out of the fraction fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RULE = (
    "outside when a feature, lg E, zenith or core distance lies outside the training stations' "
    "[min, max] (or is not finite), or the shower's number of selected stations outside the "
    "training showers'"
)
GEOMETRY = ("lg_energy", "zenith_deg", "core_distance_m")
MULTIPLICITY = "n_stations"


def training_domain(stations: pd.DataFrame, features: list[str]) -> dict:
    """The ranges of the stations a model was fitted on (one row each, with ``shower_id``)."""
    columns = list(dict.fromkeys([*GEOMETRY, *features]))
    counts = stations.groupby("shower_id").size()
    return {
        "rule": RULE,
        "ranges": {c: [float(stations[c].min()), float(stations[c].max())] for c in columns},
        MULTIPLICITY: [int(counts.min()), int(counts.max())],
    }


def _outside(values: np.ndarray, low, high, name: str) -> np.ndarray:
    """The reason per value: below or above [low, high], or not a finite number (NaN compares
    false with both bounds, so it is named on its own rather than passing as inside)."""
    return np.where(
        ~np.isfinite(values),
        f"{name} not finite",
        np.where(
            values < low,
            f"{name} below training range",
            np.where(values > high, f"{name} above training range", ""),
        ),
    )


def _joined(reasons: list[np.ndarray]) -> list[str]:
    return ["; ".join(r for r in row if r) for row in zip(*reasons, strict=True)]


def station_reasons(stations: pd.DataFrame, domain: dict) -> pd.Series:
    """Per station: why it is outside the domain ("" inside), e.g. "lg_energy above training
    range"; several reasons joined by "; "."""
    reasons = [
        _outside(stations[c].to_numpy(dtype=float), low, high, c)
        for c, (low, high) in domain["ranges"].items()
    ]
    return pd.Series(_joined(reasons), index=stations.index, dtype=object)


def shower_reasons(stations: pd.DataFrame, reasons: pd.Series, domain: dict) -> pd.DataFrame:
    """Per shower (``shower_id``): its stations' reasons and its multiplicity's, joined."""
    grouped = (
        pd.DataFrame({"shower_id": stations["shower_id"].to_numpy(), "r": reasons.to_numpy()})
        .groupby("shower_id", sort=True)["r"]
        .agg(lambda r: sorted({part for row in r if row for part in row.split("; ")}))
    )
    counts = stations.groupby("shower_id", sort=True).size()
    low, high = domain[MULTIPLICITY]
    multiplicity = _outside(counts.to_numpy(), low, high, MULTIPLICITY)
    joined = ["; ".join([*s, m] if m else s) for s, m in zip(grouped, multiplicity, strict=True)]
    return pd.DataFrame({"shower_id": grouped.index, "domain_reason": joined})


def reason_counts(reasons: pd.Series) -> str:
    """ "reason: n; ..." over flagged rows (each reason of a row counted), "" when none."""
    parts = pd.Series([p for r in reasons if r for p in r.split("; ")], dtype=object)
    return "; ".join(f"{k}: {v}" for k, v in sorted(parts.value_counts().items()))
