"""Which codec the simulation should write (issue 14): the same events rewritten with uproot in
ZLIB, LZ4 and ZSTD at a few levels (clusters of 200 events, as ``io.write_detector_file``
writes), then, in interleaved rounds, file size, a plain uproot read of the extraction's
branches and the project's extraction (read, calibrate, trace features, Parquet) of each.

The reference is the codec the project writes today (ZLIB level 1, read with isal as the
default config does), measured in the same run.

Usage: python bench/bench_codecs.py [--file results/default/raw/proton_00.root] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uproot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, ROOT, print_table, write_json  # noqa: E402

from uhecr import extraction, features, io  # noqa: E402

CODECS = {
    "ZLIB 1 (today)": uproot.ZLIB(1),
    "ZLIB 4": uproot.ZLIB(4),
    "LZ4 1": uproot.LZ4(1),
    "ZSTD 1": uproot.ZSTD(1),
    "ZSTD 5": uproot.ZSTD(5),
}
CLUSTER = 200


def rewrite(src: Path, dst: Path, compression) -> None:
    names = list(io.InputLayout().branches.values())
    with uproot.open(src) as f:
        tree = f["Events"]
        arrays = tree.arrays([n for n in names if n in tree], library="ak")
    with uproot.recreate(dst, compression=compression) as out:
        t = out.mktree("Events", {k: arrays[k].type.content for k in arrays.fields})
        t._cascading._metadata["fAutoFlush"] = CLUSTER
        for start in range(0, len(arrays), CLUSTER):
            t.extend({k: arrays[k][start : start + CLUSTER] for k in arrays.fields})


def plain_read(path: Path) -> None:
    names = list(io.InputLayout().branches.values())
    with uproot.open(path) as f:
        f["Events"].arrays([n for n in names if n in f["Events"]], library="np")


def project(path: Path, out: Path) -> None:
    extraction.extract_features(
        path, out / "f.parquet", out / "q.parquet", io.InputLayout(),
        features.FeatureSettings(), step_size="50 MB", sample="bench",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    default = ROOT / "results" / "default" / "raw" / "proton_00.root"
    parser.add_argument("--file", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.file.exists():  # no default run here: a file bench_extraction.py wrote
        written = sorted((OUT / "data").glob("proton_*.root"), key=lambda p: p.stat().st_size)
        if not written:
            raise SystemExit(f"{args.file} does not exist; run bench/bench_extraction.py first")
        args.file = written[-1]
    io.use_zlib_library("zlib")  # writing: the standard zlib, as the simulation writes
    work = Path(tempfile.mkdtemp(prefix="bench-codecs-"))
    files = {}
    for name, codec in CODECS.items():
        files[name] = work / f"{name.replace(' ', '_').replace('(', '').replace(')', '')}.root"
        rewrite(args.file, files[name], codec)
    io.use_zlib_library("isal")  # reading: the default config's decompressor
    times: dict[str, dict[str, list[float]]] = {n: {"read": [], "project": []} for n in files}
    names = list(files)
    with tempfile.TemporaryDirectory() as tmp:  # untimed warm-up (imports, first allocations)
        project(files[names[0]], Path(tmp))
    for r in range(args.rounds):
        # Each round starts at another codec: a codec measured first is not always the one
        # that pays for a cold start or the previous extraction's clean-up.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            path = files[name]
            start = time.perf_counter()
            plain_read(path)
            times[name]["read"].append(time.perf_counter() - start)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                project(path, Path(tmp))
                times[name]["project"].append(time.perf_counter() - start)
    ref = "ZLIB 1 (today)"
    rows = []
    for name, path in files.items():
        t = times[name]
        rows.append(
            {
                "codec": name,
                "file MB": path.stat().st_size / 1e6,
                "read s (min)": min(t["read"]),
                "extraction s (min)": min(t["project"]),
                "extraction s (median)": statistics.median(t["project"]),
                "size / today": path.stat().st_size / files[ref].stat().st_size,
                "extraction / today": min(t["project"]) / min(times[ref]["project"]),
            }
        )
    print_table(
        f"Codecs: {args.file.name} rewritten, clusters of {CLUSTER} events, "
        f"{args.rounds} interleaved rounds (ZLIB read with isal)",
        rows,
    )
    write_json("codecs", {"source": str(args.file), "rounds": args.rounds, "codecs": rows})


if __name__ == "__main__":
    main()
