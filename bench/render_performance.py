"""Write docs/performance.md from the benchmarks' JSON (``results/bench/*.json``).

The page is generated, never typed: ``make bench`` runs this script after the benchmarks, and
every number on it is read from the JSON the bench scripts wrote (tables of timings and ratios,
the parameters of the run, the machine and thread environment they recorded). A benchmark whose
JSON is missing gets a section naming the script that writes it; a JSON no section knows is
listed at the end with its numbers.

Usage: python bench/render_performance.py [--bench results/bench] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python bench/render_performance.py"

# file stem -> (title, the script that writes it and what it needs)
SOURCES = {
    "extraction": (
        "Extraction against reference readers",
        "`bench/bench_extraction.py` (part of `make bench`)",
    ),
    "layouts": ("Extraction per input layout", "`bench/bench_layouts.py` (part of `make bench`)"),
    "codecs": (
        "Codec of the simulated files",
        "`bench/bench_codecs.py` (part of `make bench`; it reads a default run's file, or one "
        "`bench/bench_extraction.py` wrote)",
    ),
    "search": (
        "Sweeps: workers, schedule and pruning",
        "`bench/bench_search.py` (part of `make bench`; it needs the feature table of a finished "
        "run, `results/default` or `results/quick`)",
    ),
    "run": (
        "End to end: where a run's time goes",
        "`bench/bench_run.py` (part of `make bench`; it needs a finished default run, `make run`)",
    ),
}
THREAD_VARIABLES = "worker_thread_environment"
PATH_KEYS = ("table", "results", "source")
CORRELATION_HEADERS = {
    "unpruned_target_ratio": "unpruned: time to target / wall",
    "oracle_target_ratio": "floor / wall",
    "step_noise_median": "step-to-step noise",
    "final_spread": "spread of final accuracies",
}
REFERENCE_LABELS = {
    "project": "project extraction (isal: read, calibrate, features, Parquet)",
    "project_traces": "project extraction, VEM trace table written too",
    "project_zlib": "project extraction with the standard zlib",
    "uproot_read": "plain uproot read of the same branches, zlib (reference)",
    "uproot_read_isal": "plain uproot read, isal",
    "root_asnumpy": "CERN ROOT `RDataFrame.AsNumpy` of the same branches",
    "root_compiled": "CERN ROOT compiled C++ reduction over the traces",
    "codec_limit": "zlib decompression of the same baskets (codec limit)",
    "codec_limit_isal": "isal decompression of the same baskets",
}


def fmt(value) -> str:
    """A JSON value as a table cell: floats to 3 significant digits (thousands separated)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):  # counts separated, but not seeds or years
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def para(*parts: str) -> list[str]:
    """A paragraph wrapped at 100 characters, then a blank line."""
    return [*textwrap.wrap("".join(parts), 100, break_on_hyphens=False), ""]


def table(rows: list[dict], columns: list[tuple[str, str]] | None = None) -> list[str]:
    """A Markdown table of ``rows``: ``columns`` as (key, header), else every key of the rows."""
    if not rows:
        return ["(no rows)", ""]
    if columns is None:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        columns = [(k, k) for k in keys]
    lines = ["| " + " | ".join(h for _, h in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |")
    return [*lines, ""]


def shown_path(value) -> str:
    """A path inside the repository relative to it (the page names no one's home folder)."""
    try:
        return str(Path(value).resolve().relative_to(ROOT))
    except ValueError:
        return str(value)


def scalars(payload: dict, skip=()) -> list[dict]:
    """The payload's top-level numbers and strings as (key, value) rows."""
    return [
        {"key": k, "value": shown_path(v) if k in PATH_KEYS else v}
        for k, v in payload.items()
        if k not in skip and not isinstance(v, (dict, list))
    ]


# ------------------------------------------------------------------------------------ sections
def extraction(d: dict) -> list[str]:
    refs = d.get("references", {})
    out = para(
        '"Project" is everything rule `extract_stations` does, in one chunked pass: read the '
        "ROOT file, calibrate the traces, compute the trace features and write the feature and "
        "quarantine tables. It is measured in interleaved rounds alongside references on the "
        "same files: a plain uproot read of the same branches (the reference, ratio 1), CERN "
        "ROOT's `RDataFrame.AsNumpy` and a compiled C++ reduction, and the decompression of the "
        "same baskets alone (the floor any ZLIB reader pays). Ratios are of the minima over the "
        "rounds; the calibration is bit-identical to the dense float32 sum (a test checks it)."
    )
    if refs:
        out += table(
            [
                {
                    "files": len(refs.get("files", [])),
                    "stations": refs.get("stations"),
                    "compressed MB": refs.get("compressed_mb"),
                    "uncompressed MB": refs.get("uncompressed_mb"),
                    "branches": refs.get("branches"),
                    "rounds": refs.get("rounds"),
                }
            ]
        )
        seconds = refs.get("seconds", {})
        ref = seconds.get("uproot_read", {}).get("min")
        rows = [
            {
                "what": REFERENCE_LABELS.get(key, key),
                "min s": s.get("min"),
                "median s": s.get("median"),
                "min / plain uproot read": s["min"] / ref if ref and s.get("min") else None,
            }
            for key, s in seconds.items()
        ]
        out += table(rows)
    ratios = [
        {"ratio of the minima": k.replace("_over_", " / ").replace("_", " "), "value": v}
        for k, v in d.items()
        if "_over_" in k
    ]
    if ratios:
        out += table(ratios)
    for key, title in (
        ("throughput", "Throughput on the benchmark's own file"),
        ("features", "Trace features against one numpy pass over the same traces"),
        ("calibration", "Calibration of one chunk against one numpy pass over its traces"),
        ("memory", f"Peak memory against input size (step {d.get('step_size', '?')})"),
    ):
        if d.get(key):
            out += [f"{title}:", "", *table(d[key])]
    return out


def layouts(d: dict) -> list[str]:
    return [
        *para(
            f"The same simulated events (`--stations {d.get('stations')}`) written by ROOT in each "
            "layout the extraction reads (`docs/data-format.md`), extracted by the project and, "
            "as the reference, read plainly (the mapped branches, decompressed and deserialised; "
            f"step {d.get('step_size', '?')}); best of the repeats. uproot reads nested vectors "
            "as jagged lists, which costs time in the plain read as in the extraction."
        ),
        *table(d.get("rows", [])),
    ]


def codecs(d: dict) -> list[str]:
    return [
        *para(
            f"One simulated file (`{Path(str(d.get('source', '?'))).name}`) rewritten per codec, "
            f"{fmt(d.get('rounds'))} interleaved rounds, each starting at another codec. The "
            "reference is ZLIB 1, which the simulation writes: every ROOT and uproot reads it "
            "without extra packages (uproot needs `zstandard` for ZSTD). Read with isal, as the "
            "default config does."
        ),
        *table(d.get("codecs", [])),
    ]


def search(d: dict) -> list[str]:
    out = [
        *para("Sweeps on the feature table of a finished run. Parameters of this measurement:"),
        *table(
            [r for r in scalars(d, skip={"machine", "python", "cores"}) if "_over_" not in r["key"]]
        ),
    ]
    models = d.get("models", {})
    workers = {m: r for m, r in models.items() if "two_over_one_workers" in r}
    if workers:
        counts = sorted({int(n) for r in workers.values() for n in r.get("schedule_cost", {})})
        rows = []
        for m, r in workers.items():
            row = {
                "model": m,
                "2 workers / 1, median over rounds": r["two_over_one_workers"].get("median"),
                "min": r["two_over_one_workers"].get("min"),
                "ceiling: the same fit, 2 processes / 1": r.get("parallel_ceiling", {}).get(
                    "ratio"
                ),
                "s per fit": r.get("parallel_ceiling", {}).get("fit_s_one_process"),
            }
            for n in counts:
                cost = r.get("schedule_cost", {}).get(str(n), {})
                row[f"batch / free-running wall, {n} worker{'s' * (n != 1)}"] = cost.get("median")
            rows.append(row)
        out += [
            "### Workers",
            "",
            *para(
                "Trials per hour of 1 and more worker processes on one Optuna journal, the same "
                "trials (random sampler seeded per budget slot, no pruning), in interleaved "
                "rounds. Each worker gets the thread environment Snakemake gives a rule's jobs "
                "(`OMP_NUM_THREADS` and the like set to the rule's threads, recorded above), and "
                "the models cap their native thread pools at their threads. The ceiling is the "
                "same fit run in two processes at once against one, without Optuna or MLflow. "
                "The batch schedule (`search.trials_per_batch`) makes a batch wait for its "
                "slowest trial: *batch / free-running* is its price in wall time, on the same "
                "trials. Each process pays a fixed start-up (imports, study and MLflow set-up) "
                "before its first trial."
            ),
            *table(rows),
            "Every sweep:",
            "",
            *table(
                [{"model": m, **w} for m, r in workers.items() for w in r.get("workers", [])],
                [
                    ("model", "model"),
                    ("round", "round"),
                    ("workers", "workers"),
                    ("schedule", "schedule"),
                    ("trials", "trials"),
                    ("wall_s", "wall s"),
                    ("trials_per_hour", "trials per hour"),
                    ("ratio", "/ one worker"),
                    ("start_up_s", "start-up s"),
                ],
            ),
        ]
    pruned = {m: r for m, r in models.items() if r.get("pruning_medians")}
    if pruned:
        out += [
            "### Pruning",
            "",
            *para(
                "Each pruner against no pruning, one worker, TPE, the same budget, over several "
                "seeds. A seed's target is its unpruned best minus the tolerance; ratios are "
                "over the unpruned sweep's wall time; *seeds reached* counts the seeds that got "
                "within the tolerance. The replays feed each pruner the learning curves the "
                "unpruned sweep recorded, trial by trial in its order, which separates a "
                "pruner's own cuts from the other configurations TPE draws after a pruning in a "
                "live sweep (a pruned trial costs its share of the steps: optimistic). The "
                "floor (oracle) is the least time any pruner could need on those trials: the "
                "best choice of the trial that reaches the target, every trial before it but "
                "the first stopped at its first report. The default config prunes the denoising "
                "and stacked autoencoders by the median rule after half their epochs and the "
                "other models by Hyperband (the SVM reports no steps); `CHANGELOG.md` names the "
                "measurements that chose this."
            ),
        ]
        for m, r in pruned.items():
            medians = r["pruning_medians"]
            live = ["none", *r.get("pruners", {})]
            out += [f"{m}, medians over the seeds, live:", ""]
            out += table(
                [{"pruner": p, **medians[p]} for p in live if p in medians],
                [
                    ("pruner", "pruner"),
                    ("wall_ratio", "wall / unpruned"),
                    ("target_ratio", "time to target / unpruned wall"),
                    ("best_val_accuracy", "best validation accuracy"),
                    ("reached_target", "seeds reached"),
                ],
            )
            replayed = [p for p in medians if "replay" in medians[p]]
            if replayed:
                out += [f"{m}, replayed on the unpruned trials (oracle: the floor):", ""]
                out += table(
                    [{"pruner": p, **medians[p]["replay"]} for p in replayed],
                    [
                        ("pruner", "pruner"),
                        ("wall_ratio", "wall / unpruned"),
                        ("target_ratio", "time to target / unpruned wall"),
                        ("reached_target", "seeds reached"),
                    ],
                )
            if r.get("rank_correlations"):
                out += [
                    *para(
                        f"{m}, per seed: the unpruned sweep's time to target and the floor (over "
                        "its wall), the Spearman correlation of the trials' accuracy at a step "
                        "with their final one, step-to-step noise and the spread of the final "
                        "accuracies:"
                    ),
                    *table(
                        r["rank_correlations"],
                        [
                            (
                                k,
                                CORRELATION_HEADERS.get(
                                    k, k.replace("at_step_", "Spearman, step ")
                                ),
                            )
                            for k in dict.fromkeys(k for c in r["rank_correlations"] for k in c)
                        ],
                    ),
                ]
    return out


def run(d: dict) -> list[str]:
    out = [
        *para(
            f"Snakemake's per-job benchmark records of the finished run in "
            f"`{shown_path(d.get('results', '?'))}`, summed per rule (share: of the summed job time). Rule "
            "`simulate` does the same work in every run: its time shows how the machine's speed "
            "drifts between runs."
        ),
        *table(scalars(d, skip={"machine", "python", "cores", "results"})),
    ]
    if d.get("per_rule"):
        out += table(d["per_rule"])
    if d.get("slowest_jobs"):
        out += ["Slowest jobs:", "", *table(d["slowest_jobs"])]
    return out


RENDERERS = {
    "extraction": extraction,
    "layouts": layouts,
    "codecs": codecs,
    "search": search,
    "run": run,
}


def environment(payloads: dict[str, dict]) -> list[str]:
    rows = []
    for name, d in payloads.items():
        threads = d.get(THREAD_VARIABLES)
        rows.append(
            {
                "file": f"{name}.json",
                "machine": d.get("machine"),
                "cores": d.get("cores", "not recorded"),
                "Python": d.get("python"),
                "thread environment": ", ".join(f"{k}={v}" for k, v in threads.items())
                if threads
                else "not recorded",
            }
        )
    return table(rows)


def render(bench: Path) -> str:
    payloads = {p.stem: json.loads(p.read_text()) for p in sorted(Path(bench).glob("*.json"))}
    lines = [
        "# Performance",
        "",
        "<!-- Generated by bench/render_performance.py from results/bench/*.json: do not edit. -->",
        "",
        *para(
            "Generated, never typed: `make bench` runs the benchmarks in `bench/` and then "
            f"`{COMMAND}`, which writes this page from the JSON they leave in `results/bench/`. "
            "Each benchmark compares the project with a reference measured in the same run on "
            "the same machine: the ratios carry over between machines better than the seconds "
            "do. The parameters of each measurement are in its section (the README's short "
            "`make bench` gives tiny, noisy samples). What changed over time, with the "
            "measurements that decided it, is in `CHANGELOG.md`."
        ),
        "## Machine and threads",
        "",
        *para(
            "As each benchmark recorded it: the platform, Python, and the thread variables its "
            "worker processes ran with (the sweeps: one thread per worker, as rule "
            "`search_worker` declares)."
        ),
        *(environment(payloads) if payloads else ["No benchmark JSON in `results/bench/`.", ""]),
    ]
    for name, (title, source) in SOURCES.items():
        lines += [
            f"## {title}",
            "",
            *para(f"Source: {source}, writing `results/bench/{name}.json`."),
        ]
        if name in payloads:
            lines += RENDERERS[name](payloads[name])
        else:
            lines += [f"Not measured here: `results/bench/{name}.json` is missing.", ""]
    others = [n for n in payloads if n not in SOURCES]
    for name in others:
        lines += [f"## Other: {name}.json", "", *table(scalars(payloads[name]))]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(args.bench))
    print(f"wrote {args.out} from {args.bench}")


if __name__ == "__main__":
    main()
