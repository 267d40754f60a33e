"""ROOT input/output with uproot.

Layout of a detector file (one entry per event, like an Offline/ADST-derived flat tree):

* event-level scalars: MC truth (primary, energy, direction, core, Xmax);
* station-level jagged arrays (``var``): id, position, triggers, MC signals;
* PMT-level quantities flattened per event, station-major (length ``n_stations * n_pmts``):
  calibration constants and the working-PMT flag;
* traces flattened per event, station-major then PMT then bin (length
  ``n_stations * n_pmts * n_bins``), int16 ADC counts, high and low gain.

Why flattened: uproot 5.7 writes ``var * 3 * 768`` jagged multi-dimensional TTree branches that it
cannot read back (wrong basket sizes), while flat ``var`` branches with a counter are the most
portable layout for every ROOT version. The reader reshapes and checks every length.

Both TTree and RNTuple are written and read through the same branch mapping.

Size: one concern, the ROOT layouts the workflow writes and reads. The readers of every layout
(flat, nested, station-major, TTree or RNTuple) share ``InputLayout``, the entry detection and
the error helpers that name file, tree, branch and entry; split by layout they would be
repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import uproot

log = logging.getLogger(__name__)

# Logical name -> default branch name. Users map their own files through config
# (``extraction.branches``); logical names are what the code uses.
DEFAULT_BRANCHES: dict[str, str] = {
    "event_id": "event_id",
    "primary": "mc_primary_pdg",
    "energy": "mc_energy",
    "zenith": "mc_zenith",
    "azimuth": "mc_azimuth",
    "core_x": "mc_core_x",
    "core_y": "mc_core_y",
    "xmax": "mc_xmax",
    "station_id": "station_id",
    "station_x": "station_x",
    "station_y": "station_y",
    "mc_signal_muon": "station_mc_signal_muon",
    "mc_signal_em": "station_mc_signal_em",
    "pmt_ok": "pmt_ok",
    "baseline_hg": "pmt_baseline_hg",
    "baseline_lg": "pmt_baseline_lg",
    "vem_peak": "pmt_vem_peak",
    "vem_charge": "pmt_vem_charge",
    "da_ratio": "pmt_dynode_anode_ratio",
    "trace_hg": "trace_hg",
    "trace_lg": "trace_lg",
}
EVENT_LEVEL = ("event_id", "primary", "energy", "zenith", "azimuth", "core_x", "core_y", "xmax")
STATION_LEVEL = ("station_id", "station_x", "station_y", "mc_signal_muon", "mc_signal_em")
PMT_LEVEL = ("pmt_ok", "baseline_hg", "baseline_lg", "vem_peak", "vem_charge", "da_ratio")
TRACE_LEVEL = ("trace_hg", "trace_lg")
# Branches a user's file may lack; everything else is required. Without "primary" (real data)
# stations are unlabelled: extracted and featured, never trained or tested on.
OPTIONAL = ("primary", "xmax", "mc_signal_muon", "mc_signal_em")
# Event- and station-level quantities that must be finite (features and geometry derive from
# them); a NaN or inf is an input error, reported where it is read.
MUST_BE_FINITE = ("energy", "zenith", "azimuth", "core_x", "core_y", "station_x", "station_y")
# Physical ranges (units of docs/data-format.md): a value outside is a unit or mapping error.
VALID_RANGE = {
    "energy": (1e15, 1e22, "eV: energies in EeV or log10 would be far below 1e15"),
    "zenith": (0.0, np.pi / 2, "radians: a zenith in degrees would exceed pi/2"),
}

# Accepted numeric kinds per logical quantity ("i": integer, "f": float, "b": bool).
EXPECTED_KINDS = {
    "event_id": "iu",
    "primary": "iu",
    "station_id": "iu",
    "pmt_ok": "biu",
}


class InputDataError(Exception):
    """Bad input file: the message names the file, tree, branch and entry where known."""


@dataclass(frozen=True)
class InputLayout:
    """Where to find things in a user's files (config key ``extraction``)."""

    tree: str = "Events"
    branches: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BRANCHES))
    n_pmts: int = 3
    n_bins: int = 768
    entry: str = "auto"  # what one tree entry is: "event", "station", or "auto" (from types)

    @classmethod
    def from_config(cls, cfg: dict) -> InputLayout:
        branches = dict(DEFAULT_BRANCHES)
        unknown = set(cfg.get("branches", {})) - set(DEFAULT_BRANCHES)
        if unknown:
            raise ValueError(
                f"config key extraction.branches has unknown logical name(s) {sorted(unknown)}; "
                f"known: {sorted(DEFAULT_BRANCHES)}"
            )
        branches.update(cfg.get("branches", {}))
        return cls(
            tree=cfg.get("tree", "Events"),
            branches=branches,
            n_pmts=int(cfg.get("n_pmts", 3)),
            n_bins=int(cfg.get("n_bins", 768)),
            entry=cfg.get("entry", "auto"),
        )


# --------------------------------------------------------------------------- reading speed
ZLIB_LIBRARIES = ("isal", "zlib")


def use_zlib_library(name: str) -> None:
    """Decompress ZLIB baskets with ``name``: "isal" (Intel ISA-L, 1.6x faster than the standard
    library's zlib on this project's baskets, bit-identical output) or "zlib".

    uproot documents ``uproot.ZLIB.library``; in uproot 5.7.7 the decompressor that reads
    baskets is a separate ``_DecompressZLIB`` instance, which only its class attribute switches,
    so both are set. (Its "deflate" option passes ``bufsize=`` that the ``deflate`` package
    does not accept, so libdeflate is not offered.)
    """
    if name not in ZLIB_LIBRARIES:
        raise ValueError(f"extraction.zlib_library must be one of {ZLIB_LIBRARIES}, got {name!r}")
    import uproot.compression

    if name == "isal":
        uproot.extras.isal()  # a clear error if the package is missing
    uproot.ZLIB.library = name
    uproot.compression._DecompressZLIB.library = name


# --------------------------------------------------------------------------- writing
def _event_arrays(showers: dict, stations: dict, pdg: int) -> dict:
    """Turn one simulated batch into the on-disk event layout (flattened per event)."""
    counts = np.bincount(stations["shower_index"], minlength=len(showers["event_id"]))
    order = np.argsort(stations["shower_index"], kind="stable")
    st = {k: v[order] for k, v in stations.items()}
    n_pmts = st["pmt_ok"].shape[1]
    n_bins = st["trace_hg"].shape[2]

    def per_station(x):
        return ak.unflatten(x, counts)

    def per_pmt(x):
        return ak.unflatten(x.reshape(-1), counts * n_pmts)

    def per_trace(x):
        return ak.unflatten(x.reshape(-1), counts * n_pmts * n_bins)

    b = DEFAULT_BRANCHES
    return {
        b["event_id"]: showers["event_id"].astype(np.int64),
        b["primary"]: np.full(len(counts), pdg, dtype=np.int32),
        b["energy"]: showers["energy_eV"].astype(np.float64),
        b["zenith"]: showers["zenith"].astype(np.float64),
        b["azimuth"]: showers["azimuth"].astype(np.float64),
        b["core_x"]: showers["core_x"].astype(np.float64),
        b["core_y"]: showers["core_y"].astype(np.float64),
        b["xmax"]: showers["xmax"].astype(np.float64),
        "mc_muon_scale": showers["muon_scale"].astype(np.float64),
        "mc_n_thrown": showers["n_thrown_before"].astype(np.int64),
        b["station_id"]: per_station(st["station_id"].astype(np.int32)),
        b["station_x"]: per_station(st["x"].astype(np.float64)),
        b["station_y"]: per_station(st["y"].astype(np.float64)),
        "station_mc_core_distance": per_station(st["r"].astype(np.float64)),
        "station_time": per_station(st["time_ns"]),
        "station_t2": per_station(st["t2"]),
        "station_tot": per_station(st["tot"]),
        "station_saturated": per_station(st["saturated"]),
        b["mc_signal_muon"]: per_station(st["mc_signal_muon"]),
        b["mc_signal_em"]: per_station(st["mc_signal_em"]),
        "station_mc_n_muons": per_station(st["mc_n_muons"]),
        "station_mc_n_em": per_station(st["mc_n_em"]),
        b["pmt_ok"]: per_pmt(st["pmt_ok"]),
        b["baseline_hg"]: per_pmt(st["baseline_hg"]),
        b["baseline_lg"]: per_pmt(st["baseline_lg"]),
        b["vem_peak"]: per_pmt(st["vem_peak"]),
        b["vem_charge"]: per_pmt(st["vem_charge"]),
        b["da_ratio"]: per_pmt(st["da_ratio"]),
        b["trace_hg"]: per_trace(st["trace_hg"]),
        b["trace_lg"]: per_trace(st["trace_lg"]),
    }


def write_detector_file(
    path: str | Path,
    batches: Iterable[tuple[dict, dict]],
    pdg: int,
    metadata: dict,
    tree: str = "Events",
    fmt: str = "ttree",
    cluster_events: int = 200,
) -> dict:
    """Stream simulated batches into one ROOT file; returns counts written.

    ``fmt`` is ``ttree`` (TTree via ``mktree``: uproot's ``file[name] = ...`` would make an
    RNTuple) or ``rntuple``. File metadata goes into a ``TObjString`` named ``metadata``.
    A TTree is written in clusters of ``cluster_events`` events (every branch's baskets end at
    the same entries, recorded as the tree's auto-flush size), so ROOT can read the clusters
    in parallel (``EnableImplicitMT``); uproot reads the file as before.
    """
    if fmt not in ("ttree", "rntuple"):
        raise ValueError(f"unknown ROOT output format {fmt!r}; use 'ttree' or 'rntuple'")
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".part")
    n_events = n_stations = 0
    with uproot.recreate(tmp, compression=uproot.ZLIB(1)) as f:
        f["metadata"] = json.dumps(metadata, sort_keys=True)
        out = None
        pending: list[dict] = []

        def write(arrays):
            nonlocal out
            if out is None:
                if fmt == "ttree":
                    out = f.mktree(tree, {k: _branch_type(v) for k, v in arrays.items()})
                    # uproot 5.7.7 writes no cluster boundaries (ROOT then sees one cluster);
                    # a positive auto-flush is ROOT's "a cluster every N entries".
                    out._cascading._metadata["fAutoFlush"] = cluster_events
                    out.extend(arrays)
                else:  # mkrntuple writes the data it is given
                    out = f.mkrntuple(tree, ak.zip(arrays, depth_limit=1))
            else:
                out.extend(arrays if fmt == "ttree" else ak.zip(arrays, depth_limit=1))

        for showers, stations in batches:
            arrays = _event_arrays(showers, stations, pdg)
            n_events += len(showers["event_id"])
            n_stations += len(stations["shower_index"])
            if fmt == "rntuple":
                write(arrays)
                continue
            pending.append(arrays)
            if sum(len(a[DEFAULT_BRANCHES["event_id"]]) for a in pending) >= cluster_events:
                merged = _concatenate(pending)
                n_full = len(merged[DEFAULT_BRANCHES["event_id"]]) // cluster_events
                for k in range(n_full):
                    write({b: v[k * cluster_events : (k + 1) * cluster_events]
                           for b, v in merged.items()})  # fmt: skip
                rest = {b: v[n_full * cluster_events :] for b, v in merged.items()}
                pending = [rest] if len(rest[DEFAULT_BRANCHES["event_id"]]) else []
        if pending:
            write(_concatenate(pending))
    tmp.replace(path)  # never leave a half-written file under the final name
    return {"events": n_events, "stations": n_stations}


def _concatenate(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    return {
        k: ak.concatenate([p[k] for p in parts])
        if isinstance(parts[0][k], ak.Array)
        else np.concatenate([p[k] for p in parts])
        for k in parts[0]
    }


def _branch_type(values):
    if isinstance(values, ak.Array):
        return values.type.content
    return values.dtype


def read_metadata(path: str | Path) -> dict:
    with uproot.open(path) as f:
        if "metadata" not in f:
            return {}
        return json.loads(str(f["metadata"]))


# --------------------------------------------------------------------------- reading
def open_tree(path: str | Path, layout: InputLayout):
    """Open ``layout.tree`` (TTree or RNTuple) with errors that name the file and tree."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: file is empty (0 bytes)")
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several types for corrupt headers
        raise InputDataError(
            f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        keys = sorted({k.split(";")[0] for k in f.keys()})
    except Exception as exc:
        f.close()
        raise InputDataError(
            f"{path}: not a readable ROOT file, its directory cannot be read "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    try:
        tree = f[layout.tree]
    except Exception as exc:
        f.close()
        if layout.tree in keys:  # listed in the directory but its header cannot be read
            raise _unreadable(path, layout, exc, "at open") from exc
        raise InputDataError(
            f"{path}: tree {layout.tree!r} not found (config key extraction.tree); "
            f"the file holds {keys}"
        ) from exc
    if not hasattr(tree, "iterate"):
        f.close()
        raise InputDataError(
            f"{path}: object {layout.tree!r} is a {type(tree).__name__}, not a TTree or RNTuple"
        )
    return f, tree


def _unreadable(path, layout: InputLayout, exc: Exception, where: str) -> InputDataError:
    """Wrap a raw uproot/OS error (truncated file, bad basket or page) with file and tree."""
    return InputDataError(
        f"{path}: tree {layout.tree!r} unreadable {where}, truncated or corrupt file? "
        f"({type(exc).__name__}: {exc})"
    )


def required_branches(layout: InputLayout, tree) -> dict[str, str]:
    """Logical -> branch names present in ``tree``; raises for missing required branches."""
    available = set(tree.keys())
    resolved, missing = {}, []
    for logical, branch in layout.branches.items():
        if branch in available:
            resolved[logical] = branch
        elif logical not in OPTIONAL:
            missing.append(f"{branch!r} (config key extraction.branches.{logical})")
    if missing:
        raise InputDataError(
            f"{tree.file.file_path}: tree {layout.tree!r} has no branch {', '.join(missing)}; "
            f"available: {sorted(available)[:40]}"
        )
    return resolved


def _check_kind(path, tree_name, logical, branch, array):
    kinds = EXPECTED_KINDS.get(logical, "fiu")
    dtype = np.asarray(ak.flatten(array, axis=None)).dtype
    if dtype.kind not in kinds:
        raise InputDataError(
            f"{path}: tree {tree_name!r} branch {branch!r} (extraction.branches.{logical}) "
            f"has dtype {dtype}, expected kind {kinds!r}"
        )


@dataclass
class StationChunk:
    """Flat per-station arrays of one chunk of events.

    ``events`` holds the event-level arrays, one value per entry of the chunk (entries without
    stations included): ``entry`` and the event-level logical quantities such as ``event_id``.
    """

    columns: dict[str, np.ndarray]
    pmt: dict[str, np.ndarray]  # (n_stations, n_pmts)
    traces: dict[str, np.ndarray]  # (n_stations, n_pmts, n_bins)
    entry_start: int
    events: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["station_id"])


SUPPORTED_LAYOUTS = """supported layouts (docs/data-format.md):
  one entry per event (extraction.entry: event), per-PMT and trace branches either
    - flattened per event: var * T with n_stations * n_pmts (* n_bins) values,
    - fixed-size arrays per station: var * n_pmts (* n_bins) * T (e.g. Short_t adc[nst][3][768]),
    - nested vectors: var * var * T, one inner vector of n_pmts (or n_pmts * n_bins) per station;
  one entry per station (extraction.entry: station), event-level values repeated per entry,
    per-PMT and trace branches as n_pmts (* n_bins) * T arrays or var * T vectors."""


def detect_entry(path, layout: InputLayout, tree) -> str:
    """``event`` or ``station``: config ``extraction.entry``, or the station id branch's type
    (a list per entry: one entry per event; a number per entry: one entry per station)."""
    branch = layout.branches["station_id"]
    first = tree.arrays([branch], entry_stop=1, library="ak")[branch]
    depth = first.ndim - 1
    found = {1: "event", 0: "station"}.get(depth)
    if found is not None and layout.entry in ("auto", found):
        return found
    if found is not None:
        raise InputDataError(
            f"{path}: tree {layout.tree!r}: config extraction.entry is {layout.entry!r}, but "
            f"branch {branch!r} (extraction.branches.station_id) has type "
            f"{first.type.content}, which means one entry per {found}\n{SUPPORTED_LAYOUTS}"
        )
    raise InputDataError(
        f"{path}: tree {layout.tree!r} branch {branch!r} (extraction.branches.station_id) has "
        f"type {first.type.content}: neither one id per entry (one entry per station) nor a list "
        f"of ids per entry (one entry per event)\n{SUPPORTED_LAYOUTS}"
    )


def iterate_stations(
    path: str | Path, layout: InputLayout, step_size: str | int = "50 MB"
) -> Iterator[StationChunk]:
    """Read a detector file in bounded chunks of entries, flattened to stations."""
    f, tree = open_tree(path, layout)
    try:
        # RNTuple reads its footer lazily: a truncated file fails here, not at open.
        try:
            num_entries = tree.num_entries
            tree.keys()
        except Exception as exc:
            raise _unreadable(path, layout, exc, "(header or footer)") from exc
        if num_entries == 0:
            raise InputDataError(f"{path}: tree {layout.tree!r} has no entries")
        names = required_branches(layout, tree)
        entry_start = 0
        try:
            entry = detect_entry(path, layout, tree)
            branches = sorted(set(names.values()))
            state = _StationRows()
            for chunk in tree.iterate(branches, step_size=step_size, library="ak"):
                if entry == "event":
                    yield _flatten_chunk(path, layout, chunk, names, entry_start)
                else:
                    yield _station_chunk(path, layout, chunk, names, entry_start, state)
                entry_start += len(chunk)
        except InputDataError:
            raise
        except Exception as exc:  # truncated baskets or pages, decompression errors, ...
            raise _unreadable(path, layout, exc, f"near entry {entry_start}") from exc
    finally:
        f.close()


def _layout_error(path, layout, logical, problem) -> InputDataError:
    return InputDataError(
        f"{path}: tree {layout.tree!r} branch {layout.branches[logical]!r} "
        f"(extraction.branches.{logical}) {problem} (extraction.n_pmts={layout.n_pmts}, "
        f"extraction.n_bins={layout.n_bins})\n{SUPPORTED_LAYOUTS}"
    )


def _refuse_first(wrong: np.ndarray, path, layout, logical, describe) -> None:
    """Raise the layout error ``describe(k)`` for the first ``k`` where ``wrong`` is set."""
    if wrong.any():
        raise _layout_error(path, layout, logical, describe(int(np.argmax(wrong))))


def _rows_of(path, layout, logical, rows, shape: tuple[int, ...], entries) -> np.ndarray:
    """(n_rows, prod(shape)) values from one row per station. ``shape`` is (n_pmts,) or
    (n_pmts, n_bins); a station holds it as a fixed-size array of exactly that shape (or flat),
    a vector of prod(shape) values, or (traces) n_pmts vectors of n_bins values. Anything else,
    e.g. a bin-major [768][3] array, is refused: its values would be assigned to wrong bins."""
    per = int(np.prod(shape))
    if rows.ndim == 1:
        if per == 1:
            return ak.to_numpy(rows).reshape(-1, 1)
        raise _layout_error(path, layout, logical, f"has one value per station; expected {per}")
    try:  # regular (fixed-size) arrays convert without copying lists
        regular = ak.to_numpy(rows)
    except ValueError:
        regular = None
    if regular is not None:
        if regular.shape[1:] not in (shape, (per,)):
            raise _layout_error(
                path, layout, logical,
                f"has shape {list(regular.shape[1:])} per station ({ak.type(rows).content}); "
                f"expected {list(shape)} or [{per}]",
            )  # fmt: skip
        return regular.reshape(len(regular), per)
    if rows.ndim == 3 and len(shape) == 2:  # n_pmts vectors of n_bins per station
        pmts = ak.to_numpy(ak.num(rows, axis=1))
        bins = ak.to_numpy(ak.min(ak.num(rows, axis=2), axis=1, mask_identity=False))
        most = ak.to_numpy(ak.max(ak.num(rows, axis=2), axis=1, mask_identity=False))
        wrong = (pmts != shape[0]) | (bins != shape[1]) | (most != shape[1])
        _refuse_first(
            wrong, path, layout, logical,
            lambda k: f"has {pmts[k]} vectors of {bins[k]}-{most[k]} values for the station at "
            f"entry {entries[k]}; expected {shape[0]} vectors of {shape[1]}",
        )  # fmt: skip
        return ak.to_numpy(ak.flatten(rows, axis=None)).reshape(-1, per)
    if rows.ndim > 2:
        raise _layout_error(
            path, layout, logical, f"has type {ak.type(rows).content} per station: too deep"
        )
    counts = ak.to_numpy(ak.num(rows, axis=1))
    _refuse_first(
        counts != per, path, layout, logical,
        lambda k: f"has {counts[k]} values for the station at entry {entries[k]}; expected {per}",
    )  # fmt: skip
    return ak.to_numpy(ak.flatten(rows, axis=None)).reshape(-1, per)


def _per_station_values(path, layout, logical, array, n_st, shape, entry_start) -> np.ndarray:
    """(n_stations, prod(shape)) from one entry per event, in any of the per-event layouts."""
    per = int(np.prod(shape))
    if array.ndim == 2:  # flattened per event: n_stations * per values
        lengths = ak.to_numpy(ak.num(array, axis=1))
        _refuse_first(
            lengths != n_st * per, path, layout, logical,
            lambda e: f"at entry {entry_start + e} has {lengths[e]} values for {n_st[e]} "
            f"stations; expected {per} per station",
        )  # fmt: skip
        return ak.to_numpy(ak.flatten(array)).reshape(-1, per)
    if array.ndim < 2:
        raise _layout_error(path, layout, logical, "has one value per event; expected a list")
    lengths = ak.to_numpy(ak.num(array, axis=1))
    _refuse_first(
        lengths != n_st, path, layout, logical,
        lambda e: f"at entry {entry_start + e} has {lengths[e]} stations "
        f"({ak.type(array).content}); the station id branch has {n_st[e]}",
    )  # fmt: skip
    entries = entry_start + np.repeat(np.arange(len(n_st)), n_st)
    return _rows_of(path, layout, logical, ak.flatten(array, axis=1), shape, entries)


def _refuse(path, layout, logical, values, bad, problem, entries, station_ids=None) -> None:
    """Raise for the first ``bad`` value, naming file, tree, branch, config key and entry."""
    if not bad.any():
        return
    i = int(np.argmax(bad))
    where = f"entry {entries[i]}"
    if station_ids is not None:
        where += f" (station id {station_ids[i]})"
    raise InputDataError(
        f"{path}: tree {layout.tree!r} branch {layout.branches[logical]!r} "
        f"(config key extraction.branches.{logical}) has {problem}: {values[i]} at {where}; "
        f"{int(bad.sum())} such value(s) in entries {entries.min()}-{entries.max()}"
    )


def check_physical_ranges(path, layout: InputLayout, chunk: StationChunk) -> None:
    """Energy in eV and zenith in radians: a value outside is a unit or mapping error."""
    for logical, (lo, hi, unit) in VALID_RANGE.items():
        values = chunk.events[logical]
        bad = (values < lo) | (values > hi)
        problem = f"a value outside [{lo:g}, {hi:g}] ({unit})"
        _refuse(path, layout, logical, values, bad, problem, chunk.events["entry"])


def _chunk_data(path, layout, chunk, names) -> dict:
    """Logical name -> the chunk's array, each of an accepted numeric kind."""
    data = {logical: chunk[branch] for logical, branch in names.items()}
    for logical, arr in data.items():
        _check_kind(path, layout.tree, logical, layout.branches[logical], arr)
    return data


def _pmt_and_traces(layout, per_station) -> tuple[dict, dict]:
    """The chunk's PMT values (n, n_pmts) and traces (n, n_pmts, n_bins); ``per_station(logical,
    shape)`` gives one branch as (n, prod(shape)), whatever the layout."""
    shape = (layout.n_pmts, layout.n_bins)
    pmt = {lg: per_station(lg, shape[:1]) for lg in PMT_LEVEL}
    traces = {lg: per_station(lg, shape).reshape(-1, *shape) for lg in TRACE_LEVEL}
    return pmt, traces


def _flatten_chunk(path, layout, chunk, names, entry_start) -> StationChunk:
    data = _chunk_data(path, layout, chunk, names)
    n_st = ak.to_numpy(ak.num(data["station_id"], axis=1))
    for logical in STATION_LEVEL:
        if logical in data and not np.array_equal(ak.to_numpy(ak.num(data[logical], axis=1)), n_st):
            bad = int(np.argmax(ak.to_numpy(ak.num(data[logical], axis=1)) != n_st))
            raise InputDataError(
                f"{path}: tree {layout.tree!r} branch {layout.branches[logical]!r} has a different "
                f"number of stations than {layout.branches['station_id']!r} at entry {entry_start + bad}"
            )
    pmt, traces = _pmt_and_traces(
        layout,
        lambda lg, shape: _per_station_values(path, layout, lg, data[lg], n_st, shape, entry_start),
    )
    events = {lg: ak.to_numpy(data[lg]) for lg in EVENT_LEVEL if lg in data}
    events["entry"] = entry_start + np.arange(len(n_st))
    event_index = np.repeat(np.arange(len(n_st)), n_st)
    columns = {lg: values[event_index] for lg, values in events.items()}
    for logical in STATION_LEVEL:
        if logical in data:
            columns[logical] = ak.to_numpy(ak.flatten(data[logical]))
    for logical in MUST_BE_FINITE:
        if logical in EVENT_LEVEL:
            values, entries, ids = events[logical], events["entry"], None
        else:
            values, entries, ids = columns[logical], columns["entry"], columns["station_id"]
        bad = ~np.isfinite(values)
        _refuse(path, layout, logical, values, bad, "a non-finite value", entries, ids)
    return StationChunk(
        columns=columns, pmt=pmt, traces=traces, entry_start=entry_start, events=events
    )


@dataclass
class _StationRows:
    """What a station-major read remembers across chunks: the open event and the closed ones."""

    current: int | None = None
    current_values: dict = field(default_factory=dict)
    current_stations: dict = field(default_factory=dict)  # station id -> entry
    closed: dict[int, int] = field(default_factory=dict)  # event id -> its first entry


def _station_chunk(path, layout, chunk, names, entry_start, state: _StationRows) -> StationChunk:
    """One entry per station: event-level values repeat on every station of an event, whose
    stations are consecutive entries; each event is reported once, in the chunk it starts in."""
    data = _chunk_data(path, layout, chunk, names)
    entries = entry_start + np.arange(len(chunk))
    columns = {"entry": entries}
    for logical in (*EVENT_LEVEL, *STATION_LEVEL):
        if logical in data:
            if data[logical].ndim != 1:
                raise _layout_error(
                    path, layout, logical,
                    f"has type {ak.type(data[logical]).content} per entry; with one entry per "
                    "station it must be one number per entry",
                )  # fmt: skip
            columns[logical] = ak.to_numpy(data[logical])
    for logical in MUST_BE_FINITE:
        bad = ~np.isfinite(columns[logical])
        _refuse(path, layout, logical, columns[logical], bad, "a non-finite value", entries)
    ids = columns["event_id"].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    continues = state.current is not None and ids[0] == state.current
    for k, start in enumerate(starts):
        event_id = int(ids[start])
        if k == 0 and continues:
            first_entry, reference = state.closed[event_id], state.current_values
        else:
            if event_id in state.closed:
                raise InputDataError(
                    f"{path}: tree {layout.tree!r} branch {layout.branches['event_id']!r} "
                    f"(extraction.branches.event_id): event {event_id} at entry {entries[start]} "
                    f"appeared before at entry {state.closed[event_id]} with other events in "
                    "between: with one entry per station, an event's stations must be "
                    "consecutive entries and event ids unique within a file"
                )
            first_entry = int(entries[start])
            reference = {lg: columns[lg][start] for lg in EVENT_LEVEL if lg in columns}
            state.closed[event_id] = first_entry
        stop = starts[k + 1] if k + 1 < len(starts) else len(ids)
        for logical, value in reference.items():
            rows = columns[logical][start:stop]
            differ = (rows != value) & ~(pd.isna(rows) & pd.isna(value))  # NaN: absent, equal
            if differ.any():
                at = int(entries[start + np.argmax(differ)])
                raise InputDataError(
                    f"{path}: tree {layout.tree!r} branch {layout.branches[logical]!r} "
                    f"(extraction.branches.{logical}) is an event-level value but differs within "
                    f"event {event_id}: {value} at entry {first_entry}, {rows[np.argmax(differ)]} "
                    f"at entry {at}"
                )
        # A station id twice in one event, also when the event straddles chunks.
        ids_here = columns["station_id"][start:stop].tolist()
        seen = state.current_stations if k == 0 and continues else {}
        for offset, station in enumerate(ids_here):
            if station in seen:
                raise InputDataError(
                    f"{path}: tree {layout.tree!r}: station id {station} appears twice in event "
                    f"{event_id}, at entries {seen[station]} and {entries[start + offset]} "
                    f"(branch {layout.branches['station_id']!r}, config key "
                    "extraction.branches.station_id)"
                )
            seen[station] = int(entries[start + offset])
        state.current, state.current_values, state.current_stations = event_id, reference, seen
    own = starts[1:] if continues else starts  # events that start in this chunk
    events = {lg: columns[lg][own] for lg in EVENT_LEVEL if lg in columns}
    events["entry"] = entries[own]
    pmt, traces = _pmt_and_traces(
        layout, lambda lg, shape: _rows_of(path, layout, lg, data[lg], shape, entries)
    )
    return StationChunk(
        columns=columns, pmt=pmt, traces=traces, entry_start=entry_start, events=events
    )
