"""Extraction and feature benchmarks (issue 3).

1. Extraction throughput (stations/s, MB/s of compressed input) of the full chunked extraction
   (read, calibrate, trace features, write Parquet: what rule extract_stations does) against a plain single pass that only decompresses the same
   branches with uproot (the reference, measured in the same run).
2. Feature computation on the VEM traces against one numpy pass (cumsum) over the same array.
3. Peak memory (max RSS of a child process) of the extraction against the input size, at a fixed
   step size: it should stay flat.
4. The project's extraction against reference readers of the same files (``references.py``):
   plain uproot read, CERN ROOT RDataFrame -> AsNumpy, a compiled ROOT reduction and the codec
   limit, interleaved rounds; the files of the default run (``--files``) when they exist.

Usage: python bench/bench_extraction.py [--stations 20000] [--files 'results/default/raw/*.root']
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import references  # noqa: E402
from common import OUT, best_of, print_table, write_json  # noqa: E402

from uhecr import extraction, features, io, physics  # noqa: E402
from uhecr import simulation as sim  # noqa: E402

STEP = "20 MB"


def make_file(path: Path, n_stations: int, seed: int = 99) -> dict:
    if path.exists():
        with uproot.open(path) as f:
            return {"events": f["Events"].num_entries, "stations": None}
    settings = sim.SimulationSettings()
    batches = sim.simulate_primary_file("proton", n_stations, seed, 0, settings)
    return io.write_detector_file(path, batches, physics.PRIMARY_PDG["proton"], {"bench": True})


def plain_pass(path: Path) -> int:
    layout = io.InputLayout()
    with uproot.open(path) as f:
        arrays = f["Events"].arrays(list(layout.branches.values()), library="np")
    return sum(a.nbytes if hasattr(a, "nbytes") else 0 for a in arrays.values())


def peak_rss_of_extraction(path: Path) -> float:
    """Peak RSS (MiB) of a fresh process that extracts ``path``: the child reports its own VmHWM
    (ru_maxrss would carry over the parent's peak across fork/exec on Linux)."""
    code = (
        "import sys, tempfile, pathlib; sys.path.insert(0, 'src');"
        "from uhecr import extraction, features, io;"
        "d = pathlib.Path(tempfile.mkdtemp());"
        f"extraction.extract_features(r'{path}', d / 'f.parquet', d / 'q.parquet', io.InputLayout(),"
        f" features.FeatureSettings(), step_size='{STEP}', sample='bench');"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--files", default="results/default/raw/*.root")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    repeat = min(3, args.rounds)  # best of 3 timings (fewer in a short bench)
    data = OUT / "data"
    data.mkdir(parents=True, exist_ok=True)
    big = data / f"proton_{args.stations}.root"
    t0 = time.perf_counter()
    make_file(big, args.stations)
    print(f"input file {big} ready ({time.perf_counter() - t0:.1f} s)")
    size_mb = big.stat().st_size / 1e6

    tmp = Path(tempfile.mkdtemp())
    summary = {}

    def run_extraction():
        summary.update(
            extraction.extract_features(
                big,
                tmp / "f.parquet",
                tmp / "q.parquet",
                io.InputLayout(),
                features.FeatureSettings(),
                step_size=STEP,
                sample="bench",
            )
        )

    t_plain = best_of(lambda: plain_pass(big), repeat)
    t_extract = best_of(run_extraction, repeat)
    n_st = summary["stations"]
    rows = [
        {
            "what": "plain uproot pass (reference)",
            "seconds": t_plain,
            "stations/s": n_st / t_plain,
            "MB/s": size_mb / t_plain,
            "ratio": 1.0,
        },
        {
            "what": "chunked extraction + features -> Parquet",
            "seconds": t_extract,
            "stations/s": n_st / t_extract,
            "MB/s": size_mb / t_extract,
            "ratio": t_extract / t_plain,
        },
    ]
    print_table(
        f"Extraction throughput ({n_st} stations, {size_mb:.1f} MB compressed, step {STEP})", rows
    )

    # Feature computation vs one numpy pass over the same traces (the trace table written once).
    import pyarrow.parquet as pq

    extraction.extract_station_table(
        big, tmp / "s.parquet", tmp / "q.parquet", io.InputLayout(), features.FeatureSettings(),
        step_size=STEP, sample="bench",
    )  # fmt: skip
    table = pq.read_table(tmp / "s.parquet")
    vem = table.column("vem_trace").combine_chunks().values.to_numpy().reshape(-1, 768)
    cop = table.column("charge_over_peak").to_numpy()
    fs = features.FeatureSettings()
    t_feat = best_of(lambda: features.trace_features(vem, cop, fs), repeat)
    t_numpy = best_of(lambda: np.cumsum(vem.astype(np.float64), axis=1), repeat)
    feat_rows = [
        {
            "what": "one numpy cumsum pass (reference)",
            "seconds": t_numpy,
            "stations/s": len(vem) / t_numpy,
            "ratio": 1.0,
        },
        {
            "what": "trace_features (all features)",
            "seconds": t_feat,
            "stations/s": len(vem) / t_feat,
            "ratio": t_feat / t_numpy,
        },
    ]
    print_table(f"Feature computation ({len(vem)} traces x 768 bins)", feat_rows)

    # Calibration (ADC -> mean VEM trace) of one chunk vs one numpy pass over its traces.
    # A chunk larger than the caches (as the rule's 50 MB steps are), not the 20 MB one.
    chunk = next(io.iterate_stations(big, io.InputLayout(), "100 MB"))
    hg = chunk.traces["trace_hg"]
    t_cal = best_of(lambda: features.calibrate(chunk, fs), repeat)
    t_pass = best_of(lambda: hg.astype(np.float32), repeat)
    cal_rows = [
        {
            "what": "one numpy pass: high-gain traces -> float32 (reference)",
            "seconds": t_pass,
            "ratio": 1.0,
        },
        {
            "what": "calibrate (both gains, 3 PMTs -> VEM trace)",
            "seconds": t_cal,
            "ratio": t_cal / t_pass,
        },
    ]
    print_table(f"Calibration ({len(hg)} stations x 3 PMTs x 768 bins)", cal_rows)

    # Peak memory against input size (fixed step size).
    mem_rows = []
    for n in (max(2_000, args.stations // 8), max(5_000, args.stations // 2), args.stations):
        path = data / f"proton_{n}.root"
        make_file(path, n)
        rss = peak_rss_of_extraction(path)
        mem_rows.append({"stations": n, "input MB": path.stat().st_size / 1e6, "peak RSS MiB": rss})
    base = mem_rows[0]["peak RSS MiB"]
    for r in mem_rows:
        r["ratio"] = r["peak RSS MiB"] / base
    print_table(f"Peak memory of the extraction vs input size (step {STEP})", mem_rows)
    import glob

    files = sorted(glob.glob(args.files)) or [str(big)]
    refs = references.compare(files, rounds=args.rounds)
    print_table(
        f"Extraction vs reference readers ({len(files)} files, {refs['stations']} stations, "
        f"{refs['compressed_mb']:.0f} MB compressed, {refs['uncompressed_mb']:.0f} MB "
        f"uncompressed, {refs['branches']} branches; {args.rounds} interleaved rounds)",
        references.table_rows(refs),
    )
    write_json(
        "extraction",
        {
            **{k: v for k, v in refs.items() if k.endswith("_s") or "_over_" in k},
            "references": refs,
            "throughput": rows,
            "features": feat_rows,
            "calibration": cal_rows,
            "memory": mem_rows,
            "step_size": STEP,
        },
    )


if __name__ == "__main__":
    main()
