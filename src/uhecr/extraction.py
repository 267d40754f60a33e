"""ROOT detector files -> station tables (Parquet) -> feature tables -> one merged table.

Each stage streams: ROOT files are read in ``step_size`` chunks, station tables in Parquet
record batches, so memory is bounded by the chunk size, not by the file size.

Stations that cannot be used are *quarantined*: written to a side table with a reason code and
counted, never silently dropped; with ``on_bad_station: error`` the first one raises instead.

Identity: a shower is ``"{sample}:{event_id}"``, the sample being the config key of the input
(``data.input_files.<sample>``) or the simulated sample's name, never the file's base name (two
files ``runA/run.root`` and ``runB/run.root`` are two samples). Each input's SHA-256 goes into
its per-sample summary; the merge refuses two samples with the same content.

Size: one concern, the chunked pass from ROOT files to the merged feature table; its checks
(identities, duplicates, quarantine, content fingerprint) are shared by the pass and the merge.
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
from uhecr.io import (
    OPTIONAL,
    InputDataError,
    InputLayout,
    check_physical_ranges,
    iterate_stations,
)
from uhecr.provenance import sha256_file
from uhecr.showers import CLASSES
from uhecr.table_schema import FEATURE_SCHEMA, validate_table

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
            self.writer = self._writer(table.schema)
        self.writer.write_table(table)
        self.rows += table.num_rows

    def _writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        # Float VEM traces are noise-dominated: dictionary encoding never pays and zstd gains
        # little over snappy (25 vs 23 MB per default file) at 1.3x the write time.
        if TRACE_COLUMN in schema.names:
            plain = [n for n in schema.names if n != TRACE_COLUMN]
            return pq.ParquetWriter(self.tmp, schema, compression="snappy", use_dictionary=plain)
        return pq.ParquetWriter(self.tmp, schema, compression="zstd")

    def close(self, empty_schema: pa.Schema) -> None:
        if self.writer is None:
            self.writer = self._writer(empty_schema)
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


# The primary of stations from a file without a primary branch (real data).
UNLABELLED = "unknown"


def _primary_names(
    codes: np.ndarray, path: Path, layout: InputLayout, entries: np.ndarray
) -> np.ndarray:
    """Class names of the particle codes; an unknown code is an error naming the first tree
    entry that has it."""
    unknown = sorted(set(np.unique(codes).tolist()) - set(feat.PRIMARY_CODES))
    if unknown:
        first = int(entries[np.flatnonzero(np.isin(codes, unknown))[0]])
        raise InputDataError(
            f"{path}: tree {layout.tree!r} branch {layout.branches['primary']!r} "
            f"(extraction.branches.primary) has unknown particle code(s) {unknown[:5]} (first at "
            f"entry {first}); known PDG/CORSIKA codes: {sorted(feat.PRIMARY_CODES)}"
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
            "source_file": pa.array([source] * int(bad.sum()), pa.string()),
            "entry": pa.array(entries[bad].astype(np.int64)),
            "reason": pa.array([reasons[c - 1] for c in reason_codes[bad]]),
        },
        schema=_quarantine_schema(),
    )


def _check_unique_events(chunk, seen: dict[int, int], path: Path, layout: InputLayout) -> None:
    """Event ids must be unique among the file's entries, whatever the chunking.

    ``seen`` maps the event ids of earlier chunks to their entry and is updated in place.
    """
    ids = chunk.events["event_id"].astype(np.int64)
    entries = chunk.events["entry"]
    order = np.argsort(ids, kind="stable")
    ids_sorted, entries_sorted = ids[order], entries[order]
    same = ids_sorted[1:] == ids_sorted[:-1]
    pair = None
    if same.any():  # within the chunk
        k = int(np.argmax(same))
        pair = int(ids_sorted[k]), int(entries_sorted[k]), int(entries_sorted[k + 1])
    else:  # with an earlier chunk
        for event_id, entry in zip(ids.tolist(), entries.tolist(), strict=True):
            if event_id in seen:
                pair = event_id, seen[event_id], entry
                break
    if pair is not None:
        raise InputDataError(
            f"{path}: tree {layout.tree!r} branch {layout.branches['event_id']!r} "
            f"(config key extraction.branches.event_id): duplicate event id {pair[0]} "
            f"at entries {pair[1]} and {pair[2]}; event ids must be unique within a file"
        )
    seen.update(zip(ids.tolist(), entries.tolist(), strict=True))


class _TraceSink(_ParquetSink):
    """The station table with the VEM traces (one row per station)."""

    def consume(self, table: pa.Table, vem: np.ndarray) -> None:
        self.write(table)


class _FeatureStage:
    """Trace features of station rows -> the feature table; stations without signal go to the
    quarantine sink (``zero_signal``), or raise with ``on_bad_station: error``."""

    def __init__(self, out_path, qsink: _ParquetSink, settings, on_bad_station, config_key):
        self.sink = _ParquetSink(Path(out_path))
        self.qsink, self.settings = qsink, settings
        self.on_bad, self.config_key = on_bad_station, config_key
        self.schema: pa.Schema | None = None
        self.n_zero = 0

    @property
    def rows(self) -> int:
        return self.sink.rows

    def consume(self, table: pa.Table, vem: np.ndarray | None = None) -> None:
        if vem is None:
            traces = table.column(TRACE_COLUMN).combine_chunks()
            vem = traces.values.to_numpy(zero_copy_only=False).reshape(-1, traces.type.list_size)
        cop = table.column("charge_over_peak").to_numpy()
        f = feat.trace_features(vem, cop, self.settings)
        no_signal = ~f["has_signal"]
        reason = np.where(no_signal, feat.QUARANTINE_REASONS.index("zero_signal") + 1, 0)
        ids = {
            "shower_id": table.column("shower_id").to_numpy(zero_copy_only=False),
            "station_id": table.column("station_id").to_numpy(),
        }
        # Errors name the ROOT file the station came from, not an intermediate table.
        origin = (
            table.column("source_file")[int(np.argmax(no_signal))].as_py()
            if no_signal.any()
            else "?"
        )
        q = _handle_bad(
            reason,
            ids,
            "",
            table.column("entry").to_numpy(),
            self.on_bad,
            f"{self.config_key}: {origin}" if self.config_key else origin,
            feat.QUARANTINE_REASONS,
        )
        if q is not None:
            q = q.set_column(
                2, "source_file", table.column("source_file").filter(pa.array(no_signal))
            )
            self.qsink.write(q)
            self.n_zero += q.num_rows
        out = table.drop_columns([TRACE_COLUMN]) if TRACE_COLUMN in table.column_names else table
        out = out.filter(pa.array(~no_signal))
        f["lg_total_signal"] = np.log10(np.where(no_signal, 1.0, f["total_signal_vem"]))
        for name in FEATURE_COLUMNS:
            out = out.append_column(name, pa.array(f[name][~no_signal].astype(np.float64)))
        if self.schema is None:
            self.schema = out.schema
        self.sink.write(out.cast(self.schema))

    def close(self, station_schema: pa.Schema | None) -> None:
        schema = self.schema
        if schema is None:  # no station had a signal: an empty table with the right columns
            base = station_schema.remove(station_schema.get_field_index(TRACE_COLUMN))
            for name in FEATURE_COLUMNS:
                base = base.append(pa.field(name, pa.float64()))
            schema = base
        self.sink.close(schema)


def extract_station_table(
    root_paths: str | Path | list,
    out_path: str | Path,
    quarantine_path: str | Path,
    layout: InputLayout,
    settings: feat.FeatureSettings,
    step_size: str | int = "50 MB",
    on_bad_station: str = "quarantine",
    *,
    sample: str,
    config_key: str | None = None,
    summary_path: str | Path | None = None,
) -> dict:
    """Read a sample's ROOT files (one path or a list: a run split over files) chunk by chunk
    and write calibrated station rows with VEM traces (``out_path``).

    ``sample`` names the input (the config key of ``data.input_files`` or the simulated sample):
    shower ids are ``"{sample}:{event_id}"``. ``config_key`` (e.g. ``data.input_files.runA``)
    prefixes every error message. The returned summary (also written as JSON to
    ``summary_path`` if given) holds the counts and each file's SHA-256.
    """
    qsink = _ParquetSink(Path(quarantine_path))
    traces = _TraceSink(Path(out_path))
    summary = _extract(
        root_paths, layout, settings, step_size, on_bad_station, sample, config_key,
        qsink, [traces],
    )  # fmt: skip
    _write_summary(summary, summary_path)
    return summary


def extract_features(
    root_paths: str | Path | list,
    features_path: str | Path,
    quarantine_path: str | Path,
    layout: InputLayout,
    settings: feat.FeatureSettings,
    step_size: str | int = "50 MB",
    on_bad_station: str = "quarantine",
    *,
    sample: str,
    config_key: str | None = None,
    summary_path: str | Path | None = None,
    trace_path: str | Path | None = None,
) -> dict:
    """ROOT files -> feature table in one chunked pass (read, calibrate, trace features): the
    VEM traces are never written unless ``trace_path`` asks for the station table too
    (``extraction.keep_trace_tables``). One quarantine table holds the stations left out at
    calibration and those without signal. Same identities, checks and rows as
    ``extract_station_table`` followed by ``compute_feature_table``; in the summary,
    ``stations`` counts the featured stations and ``stations_read`` = ``stations`` + all
    quarantined."""
    qsink = _ParquetSink(Path(quarantine_path))
    # No config-key prefix here: the pass prefixes every input error with it once.
    stage = _FeatureStage(features_path, qsink, settings, on_bad_station, None)
    consumers: list = [stage]
    if trace_path is not None:
        consumers.append(_TraceSink(Path(trace_path)))
    summary = _extract(
        root_paths, layout, settings, step_size, on_bad_station, sample, config_key,
        qsink, consumers,
    )  # fmt: skip
    if stage.n_zero:
        summary["quarantined"]["zero_signal"] = stage.n_zero
    _write_summary(summary, summary_path)
    return summary


def _write_summary(summary: dict, summary_path) -> None:
    log.info("extracted %s", json.dumps(summary))
    if summary_path is not None:
        tmp = Path(str(summary_path) + ".part")
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(summary_path)


def _check_unique_stations(c: dict, root_path, layout: InputLayout) -> None:
    """A station id appears once per event."""
    repeated = pd.DataFrame({"event": c["event_id"], "station": c["station_id"]}).duplicated()
    if repeated.any():
        k = int(np.argmax(repeated.to_numpy()))
        raise InputDataError(
            f"{root_path}: tree {layout.tree!r}: station id {c['station_id'][k]} "
            f"appears twice in event {c['event_id'][k]} at entry {c['entry'][k]} "
            f"(branch {layout.branches['station_id']!r}, config key "
            "extraction.branches.station_id)"
        )


def _check_same_optional_branches(c: dict, optional, source: str, sample: str):
    """Every file of a sample has the same optional branches; returns (first file, branches)."""
    present = {k for k in OPTIONAL if k in c}
    if optional is None:
        return (source, present)
    if present != optional[1]:
        raise InputDataError(
            f"{source} and {optional[0]}, files of sample {sample!r}, differ in the "
            f"optional branches present ({sorted(present)} vs "
            f"{sorted(optional[1])}, extraction.branches): one sample, one layout"
        )
    return optional


def _check_events_unique_across_files(seen_events, sample_events, source: str, sample: str):
    for event_id in seen_events.keys() & sample_events.keys():
        raise InputDataError(
            f"event id {event_id} is in {sample_events[event_id]} and in {source}, both "
            f"files of sample {sample!r}: shower ids are '<sample>:<event_id>', so event "
            "ids must be unique across a sample's files"
        )


def _station_columns(c, good, shower_ids, info, vem, source, root_path, layout) -> dict:
    """The station table's columns for a chunk's good stations: identities, shower geometry
    in the shower plane, calibration results, Monte Carlo truth if present, VEM traces."""
    dx, dy = c["station_x"] - c["core_x"], c["station_y"] - c["core_y"]
    r, _ = physics.shower_plane_geometry(dx, dy, c["zenith"], c["azimuth"])
    zeta = physics.shower_plane_azimuth(dx, dy, c["zenith"], c["azimuth"])
    cols = {
        "shower_id": pa.array(shower_ids[good].astype(str)),
        "source_file": pa.array([source] * int(good.sum()), pa.string()),
        "entry": pa.array(c["entry"][good].astype(np.int64)),
        "event_id": pa.array(c["event_id"][good].astype(np.int64)),
        "station_id": pa.array(c["station_id"][good].astype(np.int32)),
        "primary": pa.array(
            _primary_names(c["primary"][good], root_path, layout, c["entry"][good]).astype(str)
            if "primary" in c
            else np.full(int(good.sum()), UNLABELLED)
        ),
        "lg_energy": pa.array(np.log10(c["energy"][good]).astype(np.float64)),
        "zenith_deg": pa.array(np.degrees(c["zenith"][good]).astype(np.float64)),
        # The shower's arrival azimuth phi (the same for every station of a shower,
        # kept for reference only) and the station's shower-plane azimuth zeta.
        "azimuth_rad": pa.array(np.mod(c["azimuth"][good], 2 * np.pi).astype(np.float64)),
        "zeta_rad": pa.array(zeta[good].astype(np.float64)),
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
    good_vem = vem[good] if not good.all() else vem
    flat = pa.array(good_vem.reshape(-1), type=pa.float32())
    cols[TRACE_COLUMN] = pa.FixedSizeListArray.from_arrays(flat, layout.n_bins)
    return cols


def _extract(
    root_paths,
    layout: InputLayout,
    settings: feat.FeatureSettings,
    step_size,
    on_bad_station: str,
    sample: str,
    config_key: str | None,
    qsink: _ParquetSink,
    consumers: list,
) -> dict:
    """The chunked pass shared by the extraction functions: each chunk's good stations (a table
    with the VEM trace column, and the traces as an array) go to every consumer in turn. The
    summary counts the rows the first consumer wrote (``stations``, per file too) and every
    station read (``stations_read``)."""
    single = isinstance(root_paths, (str, Path))
    paths = [Path(p) for p in ([root_paths] if single else root_paths)]
    if not paths:
        raise InputDataError(f"{config_key or sample}: no input files")
    files: list[dict] = []
    sample_events: dict[int, str] = {}
    optional = None  # (first file, the optional branches it has)
    reasons = Counter()
    schema = None
    n_read = 0
    sinks = [qsink] + [c.sink if isinstance(c, _FeatureStage) else c for c in consumers]
    try:
        for root_path in paths:
            source = str(root_path)
            seen_events: dict[int, int] = {}
            before = consumers[0].rows
            for chunk in iterate_stations(root_path, layout, step_size):
                check_physical_ranges(root_path, layout, chunk)
                c = chunk.columns
                _check_unique_events(chunk, seen_events, root_path, layout)
                _check_unique_stations(c, root_path, layout)
                optional = _check_same_optional_branches(c, optional, source, sample)
                vem, info = feat.calibrate(chunk, settings)
                n_read += len(vem)
                ids = {
                    "shower_id": np.char.add(f"{sample}:", c["event_id"].astype(str)),
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
                cols = _station_columns(
                    c, good, ids["shower_id"], info, vem, source, root_path, layout
                )
                good_vem = vem[good] if not good.all() else vem
                table = pa.table(cols)
                if table.num_rows == 0:  # nothing kept (no stations, or all quarantined)
                    continue
                if schema is None:
                    schema = table.schema
                table = table.cast(schema)
                for consumer in consumers:
                    consumer.consume(table, good_vem)
            _check_events_unique_across_files(seen_events, sample_events, source, sample)
            sample_events.update(dict.fromkeys(seen_events, source))
            files.append(
                {
                    "file": source,
                    "sha256": sha256_file(root_path),
                    "bytes": root_path.stat().st_size,
                    "stations": consumers[0].rows - before,
                    "events": len(seen_events),
                }
            )
        if schema is None:
            raise InputDataError(
                f"{[str(p) for p in paths]}: no usable station in tree {layout.tree!r} "
                f"({sum(reasons.values())} quarantined: {dict(reasons)})"
            )
    except BaseException as exc:
        _abort(*sinks)
        if config_key and isinstance(exc, InputDataError):
            raise InputDataError(f"{config_key}: {exc}") from exc
        raise
    for consumer in consumers:
        consumer.close(schema)
    qsink.close(_quarantine_schema())
    summary = {
        "sample": sample,
        "config_key": config_key,
        "files": files,
        "labelled": "primary" in optional[1],  # the same in every file (checked above)
        "stations": consumers[0].rows,
        "stations_read": n_read,
        "events": len(sample_events),
        "quarantined": dict(reasons),
    }
    return summary


def compute_feature_table(
    station_path: str | Path,
    out_path: str | Path,
    quarantine_path: str | Path,
    settings: feat.FeatureSettings,
    batch_size: int = 20_000,
    on_bad_station: str = "quarantine",
    config_key: str | None = None,
) -> dict:
    """Station table (with VEM traces) -> feature table, one record batch at a time."""
    pf = pq.ParquetFile(station_path)
    qsink = _ParquetSink(Path(quarantine_path))
    stage = _FeatureStage(out_path, qsink, settings, on_bad_station, config_key)
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            stage.consume(pa.Table.from_batches([batch]))
    except BaseException:
        _abort(stage.sink, qsink)
        raise
    stage.close(pf.schema_arrow)
    qsink.close(_quarantine_schema())
    return {
        "file": str(station_path),
        "stations": stage.sink.rows,
        "quarantined": {"zero_signal": stage.n_zero},
    }


def check_distinct_inputs(station_summaries: list[dict]) -> None:
    """Two samples with the same file content (SHA-256) would count the same showers twice."""
    first: dict[str, tuple[dict, dict]] = {}
    for s in station_summaries:
        for f in s["files"]:
            other, other_file = first.setdefault(f["sha256"], (s, f))
            if other_file is not f:
                a, b = (x.get("config_key") or f"sample {x['sample']!r}" for x in (other, s))
                raise InputDataError(
                    f"{a} and {b} are the same file content (sha256 {f['sha256']}: "
                    f"{other_file['file']} and {f['file']}); list each input file once"
                )


# Columns that together identify a station's data whatever file, tree format or compression
# it came from: a repeat of all of them under another shower id is the same station twice.
CONTENT_FINGERPRINT = (
    "station_id",
    "lg_energy",
    "zenith_deg",
    "azimuth_rad",
    "core_distance_m",
    "total_signal_vem",
    "rise_time_ns",
)


def check_no_repeated_stations(df: pd.DataFrame, keys: dict[str, str]) -> None:
    """The same station data under two shower ids (a file converted to RNTuple, recompressed,
    hadd-ed into another, an event copied under a new id) would be counted twice and could land
    on both sides of the split. ``keys`` maps sample -> the config key naming it."""
    repeated = df.duplicated(list(CONTENT_FINGERPRINT), keep=False)
    if not repeated.any():
        return
    rows = df.loc[repeated].sort_values(list(CONTENT_FINGERPRINT))
    first = rows.iloc[0]
    same = rows[(rows[list(CONTENT_FINGERPRINT)] == first[list(CONTENT_FINGERPRINT)]).all(axis=1)]
    where = [f"{keys.get(r.sample, r.sample)} shower {r.shower_id}" for r in same.itertuples()]
    samples = sorted({keys.get(x, x) for x in rows["sample"]})
    raise InputDataError(
        f"{int(repeated.sum())} stations appear more than once with identical data under "
        f"different shower ids, in {', '.join(samples)}: e.g. station {first['station_id']} "
        f"in {' and '.join(where[:2])}. The same events are listed twice (a converted, "
        "recompressed or merged copy of a file?): list each event once"
    )


def select_stations(df: pd.DataFrame, selection: dict | None) -> tuple[pd.DataFrame, dict]:
    """Leave out stations near the core and (optionally) saturated ones; count each reason
    (the first that applies, in this order) and the showers left without a station."""
    selection = selection or {"min_core_distance_m": 0.0, "saturated": "keep"}
    near_core = df["core_distance_m"].to_numpy() < float(selection["min_core_distance_m"])
    saturated = df["saturated"].to_numpy(dtype=bool) & (selection["saturated"] == "exclude")
    keep = ~(near_core | saturated)
    showers_before = df["shower_id"].nunique()
    out = df.loc[keep].reset_index(drop=True)
    summary = {
        **selection,
        "stations_before": int(len(df)),
        "left_out": {
            "near_core": int(near_core.sum()),
            "saturated": int((saturated & ~near_core).sum()),
        },
        "showers_left_without_stations": int(showers_before - out["shower_id"].nunique()),
    }
    return out, summary


def merge_feature_tables(
    feature_paths: list[str | Path],
    quarantine_paths: list[str | Path],
    out_path: str | Path,
    quarantine_out: str | Path,
    summary_out: str | Path,
    station_summaries: list[str | Path] = (),
    required_classes: tuple[str, ...] = (),
    selection: dict | None = None,
) -> dict:
    """Concatenate per-file feature tables, check ids are unique, apply the station
    ``selection`` (config section ``selection``; None keeps every station), validate the schema.

    ``station_summaries`` are the per-sample JSON summaries of the extraction: identical input
    files under two sample names are an error, raised before anything is merged. A class of
    ``required_classes`` with no station is an error (the workflow's models need all four).
    """
    inputs = [json.loads(Path(p).read_text()) for p in station_summaries]
    check_distinct_inputs(inputs)
    tables = [pq.read_table(p) for p in feature_paths]
    if not tables:
        raise InputDataError("no feature tables to merge (data.input_files is empty?)")
    schema = tables[0].schema
    for p, t in zip(feature_paths, tables, strict=True):
        if t.schema.names != schema.names:
            raise InputDataError(
                f"{p}: columns {t.schema.names} differ from {feature_paths[0]}: {schema.names}"
            )
    samples = [x["sample"] for x in inputs] if inputs else [str(p) for p in feature_paths]
    labelled = [
        t.cast(schema).append_column("sample", pa.array([name] * t.num_rows, pa.string()))
        for name, t in zip(samples, tables, strict=True)
    ]
    df = pa.concat_tables(labelled).to_pandas()
    dup = df.duplicated(["shower_id", "station_id"], keep=False)
    if dup.any():
        rows = df.loc[dup, ["shower_id", "station_id", "source_file"]].head(6).to_dict("records")
        raise InputDataError(f"duplicate (shower_id, station_id) across input files: {rows}")
    if inputs:
        mismatch = df["shower_id"].str.split(":").str[0] != df["sample"]
        if mismatch.any():  # summaries and tables must come in the same sample order
            raise ValueError("merge_feature_tables: feature tables and summaries out of order")
        keys = {x["sample"]: x.get("config_key") or f"sample {x['sample']!r}" for x in inputs}
        check_no_repeated_stations(df, keys)
    unlabelled = sorted(set(df.loc[df["primary"] == UNLABELLED, "sample"]))
    if unlabelled:
        keys = {x["sample"]: x.get("config_key") or x["sample"] for x in inputs}
        raise InputDataError(
            f"{', '.join(keys.get(s, s) for s in unlabelled)}: no primary labels (the branch of "
            "extraction.branches.primary is absent): unlabelled data can be extracted and "
            "featured (rule extract_stations) but not used to train or test"
        )
    df, selected_out = select_stations(df, selection)
    missing = sorted(set(required_classes) - set(df["primary"]))
    left_out = selected_out["left_out"]
    after_selection = (
        f" after the station selection (config key selection) left out {left_out}"
        if any(left_out.values())
        else ""
    )
    if missing:
        raise InputDataError(
            f"no station of primary {missing} in the inputs "
            f"({', '.join(x.get('config_key') or x['sample'] for x in inputs) or 'feature tables'})"
            f"{after_selection}: the models are four-class classifiers and need proton, helium, "
            "oxygen and iron"
        )
    df["label"] = df["primary"].map({c: i for i, c in enumerate(CLASSES)}).astype(np.int8)
    df["primary"] = pd.Categorical(df["primary"], categories=list(CLASSES))
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
        "selection": selected_out,
        "inputs": {
            s["sample"]: [{"file": f["file"], "sha256": f["sha256"]} for f in s["files"]]
            for s in inputs
        },
    }
    Path(summary_out).write_text(json.dumps(summary, indent=2, default=str))
    return summary
