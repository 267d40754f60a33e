"""The project's extraction against reference readers of the same files, measured side by side
in one run (issue 14): interleaved rounds, min and median of each.

* ``project``: everything rule extract_stations does (read, calibrate, trace features, write the
  feature and quarantine tables), per file, with the configured decompressor (isal) and with the
  standard zlib; ``project_traces`` also writes the VEM trace table (keep_trace_tables: true);
* ``uproot_read``: a plain uproot read of the same branches into numpy (zlib and isal);
* ``root_asnumpy``: CERN ROOT ``RDataFrame(...).AsNumpy`` of the same branches;
* ``root_compiled``: a compiled C++ reduction (sum of the high-gain traces) in ROOT's event loop;
* ``codec_limit``: decompressing the same baskets' bytes with zlib (and isal, libdeflate-class
  speed is not offered by uproot 5.7.7): the floor any ZLIB reader pays.

ROOT runs in a child process (cling never shares a process with the other libraries); its times
are measured inside the child, without its start-up.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uhecr import extraction, features, io  # noqa: E402

ROOT_CHILD = r"""
import json, sys, time
import ROOT
ROOT.ROOT.DisableImplicitMT()
files, columns = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ROOT.gInterpreter.Declare('''
double uhecr_trace_sum(const ROOT::RVec<short>& t) { double s = 0; for (auto v : t) s += v; return s; }
''')
vec = ROOT.std.vector("std::string")()
for f in files:
    vec.push_back(f)
ROOT.RDataFrame("Events", vec).Range(1).Count().GetValue()  # JIT and open once, untimed
start = time.perf_counter()
ROOT.RDataFrame("Events", vec).AsNumpy(columns)
asnumpy = time.perf_counter() - start
df = ROOT.RDataFrame("Events", vec).Define("s", "uhecr_trace_sum(trace_hg)").Sum("s")
start = time.perf_counter()
total = df.GetValue()
compiled = time.perf_counter() - start
print(json.dumps({"root_asnumpy": asnumpy, "root_compiled": compiled, "sum": total}))
"""


def branches() -> list[str]:
    return list(io.InputLayout().branches.values())


def _plain_read(files) -> None:
    import uproot

    for f in files:
        with uproot.open(f) as h:
            h["Events"].arrays(branches(), library="np")


def _project(files, out: Path, traces: bool = False) -> int:
    n = 0
    for k, f in enumerate(files):
        summary = extraction.extract_features(
            f,
            out / f"{k}.parquet",
            out / f"{k}.q.parquet",
            io.InputLayout(),
            features.FeatureSettings(),
            step_size="50 MB",
            sample=f"bench{k}",
            trace_path=out / f"{k}.traces.parquet" if traces else None,
        )
        n += summary["stations"]
    return n


def recorded_baskets(files) -> list[tuple[bytes, int]]:
    """The compressed ZLIB blocks a plain read of ``branches()`` decompresses, recorded once."""
    import uproot.compression as comp

    blocks: list[tuple[bytes, int]] = []
    original = comp._DecompressZLIB.decompress

    def record(self, data, uncompressed_bytes=None):
        blocks.append((bytes(data), uncompressed_bytes))
        return original(self, data, uncompressed_bytes)

    comp._DecompressZLIB.decompress = record
    try:
        _plain_read(files)
    finally:
        comp._DecompressZLIB.decompress = original
    return blocks


def _decompress_all(blocks, library: str) -> None:
    if library == "zlib":
        import zlib

        for data, size in blocks:
            zlib.decompress(data, bufsize=size)
    else:
        from isal import isal_zlib

        for data, size in blocks:
            isal_zlib.decompress(data, bufsize=size)


def _root(files) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            ROOT_CHILD,
            json.dumps([str(f) for f in files]),
            json.dumps(branches()),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(files, rounds: int = 5) -> dict:
    """Interleaved rounds of every measurement; returns min and median seconds per entry and
    the ratios the issue asks for (on the minima)."""
    files = [Path(f) for f in files]
    blocks = recorded_baskets(files)
    times: dict[str, list[float]] = {}
    stations = 0

    def timed(name, fn):
        start = time.perf_counter()
        result = fn()
        times.setdefault(name, []).append(time.perf_counter() - start)
        return result

    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            io.use_zlib_library("isal")
            stations = timed("project", lambda tmp=tmp: _project(files, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            timed("project_traces", lambda tmp=tmp: _project(files, Path(tmp), traces=True))
        with tempfile.TemporaryDirectory() as tmp:
            io.use_zlib_library("zlib")
            timed("project_zlib", lambda tmp=tmp: _project(files, Path(tmp)))
        timed("uproot_read", lambda: _plain_read(files))
        io.use_zlib_library("isal")
        timed("uproot_read_isal", lambda: _plain_read(files))
        io.use_zlib_library("zlib")
        timed("codec_limit", lambda: _decompress_all(blocks, "zlib"))
        timed("codec_limit_isal", lambda: _decompress_all(blocks, "isal"))
        root = _root(files)
        for key in ("root_asnumpy", "root_compiled"):
            times.setdefault(key, []).append(root[key])
    result = {
        "files": [str(f) for f in files],
        "compressed_mb": sum(f.stat().st_size for f in files) / 1e6,
        "uncompressed_mb": sum(size for _, size in blocks) / 1e6,
        "stations": stations,
        "rounds": rounds,
        "branches": len(branches()),
        "seconds": {k: {"min": min(v), "median": statistics.median(v)} for k, v in times.items()},
    }
    best = {k: v["min"] for k, v in result["seconds"].items()}
    for key in best:
        result[f"{key}_s"] = best[key]
    result["project_over_uproot"] = best["project"] / best["uproot_read"]
    result["project_over_root_asnumpy"] = best["project"] / best["root_asnumpy"]
    result["project_over_root_compiled"] = best["project"] / best["root_compiled"]
    result["project_zlib_over_uproot"] = best["project_zlib"] / best["uproot_read"]
    return result


def table_rows(result: dict) -> list[dict]:
    labels = {
        "project": "project extraction (isal: read + calibrate + features + Parquet)",
        "project_traces": "project extraction, trace table written too",
        "project_zlib": "project extraction with zlib",
        "uproot_read": "plain uproot read, zlib (reference)",
        "uproot_read_isal": "plain uproot read, isal",
        "root_asnumpy": "CERN ROOT RDataFrame -> AsNumpy",
        "root_compiled": "CERN ROOT compiled C++ reduction",
        "codec_limit": "zlib decompression of the baskets (codec limit)",
        "codec_limit_isal": "isal decompression of the baskets",
    }
    ref = result["seconds"]["uproot_read"]["min"]
    return [
        {
            "what": label,
            "min s": result["seconds"][key]["min"],
            "median s": result["seconds"][key]["median"],
            "min / plain uproot": result["seconds"][key]["min"] / ref,
        }
        for key, label in labels.items()
    ]
