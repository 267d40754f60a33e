"""ROOT detector files -> station tables (Parquet) -> feature tables -> one merged table.

Each stage streams: ROOT files are read in ``step_size`` chunks, station tables in Parquet
record batches, so memory is bounded by the chunk size, not by the file size.

Stations that cannot be used are *quarantined*: written to a side table with a reason code and
counted, never silently dropped; with ``on_bad_station: error`` the first one raises instead.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uhecr import features as feat
from uhecr import physics
from uhecr.io import InputDataError, InputLayout, iterate_stations
from uhecr.schema import FEATURE_SCHEMA, validate_table

log = logging.getLogger(__name__)

TRACE_COLUMN = "vem_trace"
QUARANTINE_COLUMNS = ["shower_id", "station_id", "source_file", "entry", "reason"]
FEATURE_COLUMNS = (
    "total_signal_vem",
    "lg_total_signal",
    "trace_length_ns",
    "rise_time_ns",
    "fall_time_ns",
    "area_over_peak",
    "peak_ivem",
)


class _ParquetSink:
    """Append record batches to one Parquet file, written atomically at close."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = self.path.with_suffix(self.path.suffix + ".part")
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self, empty_schema: pa.Schema) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, empty_schema, compression="zstd")
        self.writer.close()
        self.tmp.replace(self.path)


def _abort(*sinks: _ParquetSink) -> None:
    """Drop half-written outputs so a failed run leaves nothing under the final names."""
    for s in sinks:
        if s.writer is not None:
            s.writer.close()
        s.tmp.unlink(missing_ok=True)


def _quarantine_schema() -> pa.Schema:
    return pa.schema(
        [
            ("shower_id", pa.string()),
            ("station_id", pa.int32()),
            ("source_file", pa.string()),
            ("entry", pa.int64()),
            ("reason", pa.string()),
        ]
    )


def _primary_names(codes: np.ndarray, path: Path, layout: InputLayout) -> np.ndarray:
    unknown = sorted(set(np.unique(codes).tolist()) - set(feat.PRIMARY_CODES))
    if unknown:
        raise InputDataError(
            f"{path}: tree {layout.tree!r} branch {layout.branches['primary']!r} "
            f"(extraction.branches.primary) has unknown particle code(s) {unknown[:5]}; "
            f"known PDG/CORSIKA codes: {sorted(feat.PRIMARY_CODES)}"
        )
    lookup = np.vectorize(feat.PRIMARY_CODES.__getitem__, otypes=[object])
    return lookup(codes)


def _handle_bad(reason_codes, ids, source, entries, on_bad, path, reasons) -> pa.Table | None:
    bad = reason_codes > 0
    if not bad.any():
        return None
    if on_bad == "error":
        i = int(np.argmax(bad))
        raise InputDataError(
            f"{path}: entry {entries[i]} station {ids['station_id'][i]}: "
            f"{reasons[reason_codes[i] - 1]} (set extraction.on_bad_station: quarantine to skip)"
        )
    return pa.table(
        {
            "shower_id": pa.array(ids["shower_id"][bad].astype(str)),
            "station_id": pa.array(ids["station_id"][bad].astype(np.int32)),
            "source_file": pa.array([source] * int(bad.sum())),
            "entry": pa.array(entries[bad].astype(np.int64)),
            "reason": pa.array([reasons[c - 1] for c in reason_codes[bad]]),
        },
        schema=_quarantine_schema(),
    )


def extract_station_table(
    root_path: str | Path,
    out_path: str | Path,
    quarantine_path: str | Path,
    layout: InputLayout,
    settings: feat.FeatureSettings,
    step_size: str | int = "50 MB",
    on_bad_station: str = "quarantine",
) -> dict:
    """Read one ROOT file chunk by chunk and write calibrated station rows with VEM traces."""
    root_path = Path(root_path)
    source = root_path.name
    stem = root_path.stem
    sink, qsink = _ParquetSink(Path(out_path)), _ParquetSink(Path(quarantine_path))
    reasons = Counter()
    seen_events: set[int] = set()
    schema = None
    n_bins = layout.n_bins
    try:
        for chunk in iterate_stations(root_path, layout, step_size):
            c = chunk.columns
            events = np.unique(c["event_id"])
            dup = seen_events.intersection(events.tolist())
            if dup:
                raise InputDataError(
                    f"{root_path}: tree {layout.tree!r} branch {layout.branches['event_id']!r}: "
                    f"duplicate event id(s) {sorted(dup)[:5]} in different entries"
                )
            seen_events.update(events.tolist())
            station_key = c["event_id"].astype(np.int64) * 100_000_000 + c["station_id"]
            if len(np.unique(station_key)) != len(station_key):
                first = station_key[np.argmax(pd.Series(station_key).duplicated().to_numpy())]
                raise InputDataError(
                    f"{root_path}: tree {layout.tree!r}: station id {first % 100_000_000} appears "
                    f"twice in event {first // 100_000_000} (branch {layout.branches['station_id']!r})"
                )
            vem, info = feat.calibrate(chunk, settings)
            ids = {
                "shower_id": np.char.add(f"{stem}:", c["event_id"].astype(str)),
                "station_id": c["station_id"],
            }
            q = _handle_bad(
                info["reason"],
                ids,
                source,
                c["entry"],
                on_bad_station,
                root_path,
                feat.QUARANTINE_REASONS,
            )
            if q is not None:
                qsink.write(q)
                reasons.update(q.column("reason").to_pylist())
            good = info["reason"] == 0
            r, _ = physics.shower_plane_geometry(
                c["station_x"] - c["core_x"],
                c["station_y"] - c["core_y"],
                c["zenith"],
                c["azimuth"],
            )
            cols = {
                "shower_id": pa.array(ids["shower_id"][good].astype(str)),
                "source_file": pa.array([source] * int(good.sum())),
                "entry": pa.array(c["entry"][good].astype(np.int64)),
                "event_id": pa.array(c["event_id"][good].astype(np.int64)),
                "station_id": pa.array(c["station_id"][good].astype(np.int32)),
                "primary": pa.array(
                    _primary_names(c["primary"][good], root_path, layout).astype(str)
                ),
                "lg_energy": pa.array(np.log10(c["energy"][good]).astype(np.float64)),
                "zenith_deg": pa.array(np.degrees(c["zenith"][good]).astype(np.float64)),
                "azimuth_rad": pa.array(np.mod(c["azimuth"][good], 2 * np.pi).astype(np.float64)),
                "core_distance_m": pa.array(r[good].astype(np.float64)),
                "n_good_pmts": pa.array(info["n_good_pmts"][good]),
                "charge_over_peak": pa.array(info["charge_over_peak"][good]),
                "saturated": pa.array(info["saturated"][good]),
                "high_gain_saturated": pa.array(info["high_gain_saturated"][good]),
            }
            for truth in ("xmax", "mc_signal_muon", "mc_signal_em"):
                if truth in c:
                    cols[f"mc_{truth}" if not truth.startswith("mc_") else truth] = pa.array(
                        c[truth][good].astype(np.float64)
                    )
            flat = pa.array(vem[good].reshape(-1), type=pa.float32())
            cols[TRACE_COLUMN] = pa.FixedSizeListArray.from_arrays(flat, n_bins)
            table = pa.table(cols)
            if schema is None:
                schema = table.schema
            sink.write(table.cast(schema))
        if schema is None:
            raise InputDataError(f"{root_path}: no stations found in tree {layout.tree!r}")
    except BaseException:
        _abort(sink, qsink)
        raise
    sink.close(schema)
    qsink.close(_quarantine_schema())
    summary = {
        "file": str(root_path),
        "stations": sink.rows,
        "events": len(seen_events),
        "quarantined": dict(reasons),
    }
    log.info("extracted %s", json.dumps(summary))
    return summary


def compute_feature_table(
    station_path: str | Path,
    out_path: str | Path,
    quarantine_path: str | Path,
    settings: feat.FeatureSettings,
    batch_size: int = 20_000,
    on_bad_station: str = "quarantine",
) -> dict:
    """Station table (with VEM traces) -> feature table, one record batch at a time."""
    pf = pq.ParquetFile(station_path)
    sink, qsink = _ParquetSink(Path(out_path)), _ParquetSink(Path(quarantine_path))
    schema = None
    n_zero = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            table = pa.Table.from_batches([batch])
            traces = table.column(TRACE_COLUMN).combine_chunks()
            n_bins = traces.type.list_size
            vem = traces.values.to_numpy(zero_copy_only=False).reshape(-1, n_bins)
            cop = table.column("charge_over_peak").to_numpy()
            f = feat.trace_features(vem, cop, settings)
            no_signal = ~f["has_signal"]
            reason = np.where(no_signal, feat.QUARANTINE_REASONS.index("zero_signal") + 1, 0)
            ids = {
                "shower_id": table.column("shower_id").to_numpy(zero_copy_only=False),
                "station_id": table.column("station_id").to_numpy(),
            }
            q = _handle_bad(
                reason,
                ids,
                "",
                table.column("entry").to_numpy(),
                on_bad_station,
                Path(station_path),
                feat.QUARANTINE_REASONS,
            )
            if q is not None:
                q = q.set_column(
                    2, "source_file", table.column("source_file").filter(pa.array(no_signal))
                )
                qsink.write(q)
                n_zero += q.num_rows
            keep = pa.array(~no_signal)
            out = table.drop_columns([TRACE_COLUMN]).filter(keep)
            f["lg_total_signal"] = np.log10(np.where(no_signal, 1.0, f["total_signal_vem"]))
            for name in FEATURE_COLUMNS:
                out = out.append_column(name, pa.array(f[name][~no_signal].astype(np.float64)))
            if schema is None:
                schema = out.schema
            sink.write(out.cast(schema))
        if schema is None:
            schema = pf.schema_arrow.remove(pf.schema_arrow.get_field_index(TRACE_COLUMN))
    except BaseException:
        _abort(sink, qsink)
        raise
    sink.close(schema)
    qsink.close(_quarantine_schema())
    return {
        "file": str(station_path),
        "stations": sink.rows,
        "quarantined": {"zero_signal": n_zero},
    }


def merge_feature_tables(
    feature_paths: list[str | Path],
    quarantine_paths: list[str | Path],
    out_path: str | Path,
    quarantine_out: str | Path,
    summary_out: str | Path,
) -> dict:
    """Concatenate per-file feature tables, check ids are unique, validate the schema."""
    tables = [pq.read_table(p) for p in feature_paths]
    if not tables:
        raise InputDataError("no feature tables to merge (data.input_files is empty?)")
    schema = tables[0].schema
    for p, t in zip(feature_paths, tables, strict=True):
        if t.schema.names != schema.names:
            raise InputDataError(
                f"{p}: columns {t.schema.names} differ from {feature_paths[0]}: {schema.names}"
            )
    df = pa.concat_tables([t.cast(schema) for t in tables]).to_pandas()
    dup = df.duplicated(["shower_id", "station_id"], keep=False)
    if dup.any():
        rows = df.loc[dup, ["shower_id", "station_id", "source_file"]].head(6).to_dict("records")
        raise InputDataError(f"duplicate (shower_id, station_id) across input files: {rows}")
    df["label"] = df["primary"].map({c: i for i, c in enumerate(feat.CLASSES)}).astype(np.int8)
    df["primary"] = pd.Categorical(df["primary"], categories=list(feat.CLASSES))
    df = df.sort_values(["shower_id", "station_id"], kind="stable").reset_index(drop=True)
    validate_table(df, FEATURE_SCHEMA, name=str(out_path))
    tmp = Path(str(out_path) + ".part")
    df.to_parquet(tmp, index=False, compression="zstd")
    tmp.replace(out_path)

    quarantine = pd.concat([pd.read_parquet(p) for p in quarantine_paths], ignore_index=True)
    quarantine.to_parquet(quarantine_out, index=False)
    summary = {
        "stations": len(df),
        "showers": int(df["shower_id"].nunique()),
        "stations_per_primary": df["primary"].value_counts().sort_index().to_dict(),
        "quarantined_total": len(quarantine),
        "quarantined_by_reason": quarantine["reason"].value_counts().to_dict(),
        "saturated_stations": int(df["saturated"].sum()),
    }
    Path(summary_out).write_text(json.dumps(summary, indent=2, default=str))
    return summary
