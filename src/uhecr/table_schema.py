"""Data schema of the merged station feature table, checked before anything downstream reads it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class SchemaError(ValueError):
    """The table violates its schema; the message names the table, column and offending rows."""


@dataclass(frozen=True)
class Column:
    kind: str  # numpy dtype kinds accepted: "f", "i", "b", "O"/"U" for strings, "c" category
    minimum: float | None = None
    maximum: float | None = None
    allow_nan: bool = False


FEATURE_SCHEMA: dict[str, Column] = {
    "shower_id": Column("OUT"),
    "source_file": Column("OUT"),
    "event_id": Column("iu"),
    "station_id": Column("iu", 0),
    "primary": Column("c"),
    "label": Column("iu", 0, 3),
    "lg_energy": Column("f", 16.0, 22.0),
    "zenith_deg": Column("f", 0.0, 90.0),
    "azimuth_rad": Column("f", 0.0, 2 * np.pi),  # shower arrival azimuth phi (per shower)
    "zeta_rad": Column("f", -np.pi, np.pi),  # station azimuth in the shower plane (per station)
    "core_distance_m": Column("f", 0.0, 50_000.0),
    "total_signal_vem": Column("f", 0.0, 1e7),
    "lg_total_signal": Column("f", -3.0, 7.0),
    "trace_length_ns": Column("f", 1.0, 1e6),
    "rise_time_ns": Column("f", 0.0, 1e6),
    "fall_time_ns": Column("f", 0.0, 1e6),
    "area_over_peak": Column("f", 0.0, 1e4),
    "n_good_pmts": Column("iu", 1, 16),
    "saturated": Column("b"),
}


def validate_table(df: pd.DataFrame, schema: dict[str, Column], name: str = "table") -> None:
    """Raise SchemaError on a missing column, wrong type, NaN or out-of-range value."""
    if len(df) == 0:
        raise SchemaError(f"{name}: table is empty")
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {missing}")
    for col, spec in schema.items():
        s = df[col]
        kind = "c" if isinstance(s.dtype, pd.CategoricalDtype) else s.dtype.kind
        if kind == "U" or pd.api.types.is_string_dtype(s.dtype) and kind != "c":
            kind = "O"
        if kind not in spec.kind:
            raise SchemaError(
                f"{name}: column {col!r} has dtype {s.dtype}, expected kind {spec.kind!r}"
            )
        if s.isna().any() and not spec.allow_nan:
            rows = s.index[s.isna()][:5].tolist()
            raise SchemaError(
                f"{name}: column {col!r} has {int(s.isna().sum())} missing/NaN value(s), rows {rows}"
            )
        if kind in "fiu":
            values = s.to_numpy(dtype=float)
            if not np.isfinite(values[~np.isnan(values)]).all():
                raise SchemaError(f"{name}: column {col!r} has infinite values")
            for bound, bad in (
                (spec.minimum, values < spec.minimum if spec.minimum is not None else None),
                (spec.maximum, values > spec.maximum if spec.maximum is not None else None),
            ):
                if bad is not None and bad.any():
                    rows = np.flatnonzero(bad)[:5].tolist()
                    raise SchemaError(
                        f"{name}: column {col!r} has {int(bad.sum())} value(s) outside "
                        f"[{spec.minimum}, {spec.maximum}] (bound {bound}), rows {rows}: "
                        f"{values[bad][:5].tolist()}"
                    )
