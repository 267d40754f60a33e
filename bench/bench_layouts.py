"""Extraction throughput per ROOT layout (issue 10), against a plain uproot read of the same
branches of the same file, measured in the same run.

The same simulated content is written in each layout: the project's (flattened per event, by
uproot), and by CERN ROOT (PyPI `root`): fixed-size arrays per station, nested vectors (TTree and
RNTuple via RDataFrame::Snapshot) and one entry per station. ROOT writes with its default
compression (ZSTD for RNTuple and, since 6.30, TTree), so the file sizes differ between layouts.

Usage: python bench/bench_layouts.py [--stations 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import uproot

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extraction import make_file  # noqa: E402
from common import best_of, print_table, write_json  # noqa: E402
from root_writers import LAYOUTS, run  # noqa: E402

from uhecr import extraction, features  # noqa: E402
from uhecr.io import InputLayout  # noqa: E402

STEP = "20 MB"


def plain_read(path: Path, layout: InputLayout) -> None:
    """Decompress and deserialise the mapped branches in chunks, nothing else."""
    with uproot.open(path) as f:
        tree = f[layout.tree]
        names = sorted(set(layout.branches.values()) & set(tree.keys()))
        for _ in tree.iterate(names, step_size=STEP, library="ak"):
            pass


def extract(path: Path, layout: InputLayout, out: Path) -> dict:
    return extraction.extract_station_table(
        path,
        out / "s.parquet",
        out / "q.parquet",
        layout,
        features.FeatureSettings(),
        step_size=STEP,
        sample="bench",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        own = tmp / "own.root"
        make_file(own, args.stations)
        files = {"flattened (project, uproot)": (own, InputLayout())}
        names = {
            "fixed": "fixed arrays [nst][3][768] (ROOT)",
            "nested_ttree": "nested vectors, TTree (ROOT)",
            "nested_rntuple": "nested vectors, RNTuple (ROOT)",
            "station_major": "one entry per station (ROOT)",
        }
        for layout, name in names.items():
            run(layout, own, tmp / f"{layout}.root")  # ROOT writes it, in a child process
            files[name] = (tmp / f"{layout}.root", LAYOUTS[layout])
        rows = []
        for name, (path, layout) in files.items():
            out = tmp / path.stem
            out.mkdir()
            stations = extract(path, layout, out)["stations"]
            t_plain = best_of(lambda p=path, lay=layout: plain_read(p, lay), args.repeat)
            t_extract = best_of(lambda p=path, lay=layout, o=out: extract(p, lay, o), args.repeat)
            mb = path.stat().st_size / 1e6
            rows.append(
                {
                    "layout": name,
                    "file MB": mb,
                    "stations": stations,
                    "plain read s": t_plain,
                    "extraction s": t_extract,
                    "stations/s": stations / t_extract,
                    "MB/s": mb / t_extract,
                    "extraction / plain read": t_extract / t_plain,
                }
            )
    print_table(
        f"Extraction per layout ({args.stations} stations, step {STEP}, best of {args.repeat})",
        rows,
    )
    write_json("layouts", {"stations": args.stations, "step_size": STEP, "rows": rows})


if __name__ == "__main__":
    main()
