"""Which rules dominate a finished run (issue 14, goal 3): Snakemake's per-job benchmark
records (``<results_dir>/benchmarks/**/*.tsv``: wall seconds, CPU seconds, peak RSS of each
job) summed per rule, with each rule's share of the summed job time and its slowest job.

Usage: python bench/bench_run.py [--results results/default] [--wall-s 625]
(``--wall-s``: the run's own wall time, e.g. from ``/usr/bin/time make run``, to print the
parallelism the scheduler reached: summed job time / wall time.)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, print_table, write_json  # noqa: E402


def workflow_rules() -> set[str]:
    return {
        m.group(1)
        for smk in [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]
        for m in re.finditer(r"^rule (\w+):", smk.read_text(), re.MULTILINE)
    }


def job_records(results: Path) -> pd.DataFrame:
    """The latest record of every benchmarked job of the workflow's current rules (records of
    rules since removed, left in an old results folder, are not counted)."""
    rules, rows = workflow_rules(), []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        record = pd.read_csv(tsv, sep="\t").iloc[-1]  # the latest run of the job
        rel = tsv.relative_to(results / "benchmarks")
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        rule = rule.split("_png")[0].split("_pdf")[0]
        if rule not in rules:
            print(f"left out {tsv}: no rule {rule!r} in the workflow")
            continue
        rows.append(
            {
                "rule": rule,
                "job": str(rel.with_suffix("")),
                "s": float(record["s"]),
                "cpu_s": float(record.get("cpu_time", float("nan"))),
                "max_rss_mb": float(record.get("max_rss", float("nan"))),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "default")
    parser.add_argument("--wall-s", type=float, default=None)
    args = parser.parse_args()
    jobs = job_records(args.results)
    if jobs.empty:
        print(f"no benchmark records under {args.results}/benchmarks: run the workflow first")
        return
    total = jobs["s"].sum()
    per_rule = (
        jobs.groupby("rule")
        .agg(jobs=("s", "size"), s=("s", "sum"), cpu_s=("cpu_s", "sum"), slowest_s=("s", "max"))
        .sort_values("s", ascending=False)
        .reset_index()
    )
    per_rule["share"] = per_rule["s"] / total
    print_table(
        f"{args.results}: {len(jobs)} benchmarked jobs, {total:.0f} s summed job time",
        per_rule.to_dict("records"),
    )
    slowest = jobs.sort_values("s", ascending=False).head(10)
    print_table("slowest jobs", slowest[["job", "s", "cpu_s", "max_rss_mb"]].to_dict("records"))
    payload = {
        "results": str(args.results),
        "jobs": len(jobs),
        "summed_job_s": total,
        "per_rule": per_rule.to_dict("records"),
        "slowest_jobs": slowest.to_dict("records"),
    }
    if args.wall_s:
        payload["wall_s"] = args.wall_s
        payload["parallelism"] = total / args.wall_s
        print(f"\nwall {args.wall_s:.0f} s: summed job time / wall = {total / args.wall_s:.2f}")
    write_json("run", payload)


if __name__ == "__main__":
    main()
