"""docs/performance.md is rendered from the benchmarks' JSON: every table holds the JSON's
numbers, the recorded machine and thread environment, and a missing benchmark is named with
the script that measures it (bench/render_performance.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from render_performance import fmt, render  # noqa: E402

MACHINE = {"machine": "Linux-test-x86_64", "python": "3.11.7"}
EXTRACTION = {
    **MACHINE,
    "project_s": 3.581,
    "uproot_read_s": 3.142,
    "project_over_uproot": 1.1397,
    "project_over_root_asnumpy": 0.3943,
    "references": {
        "files": ["a.root", "b.root"],
        "compressed_mb": 209.4,
        "uncompressed_mb": 827.1,
        "stations": 88784,
        "rounds": 5,
        "branches": 21,
        "seconds": {
            "project": {"min": 3.581, "median": 3.912},
            "uproot_read": {"min": 3.142, "median": 3.301},
            "root_asnumpy": {"min": 9.081, "median": 9.5},
        },
    },
    "calibration": [
        {"what": "one numpy pass (reference)", "seconds": 0.0123, "ratio": 1.0},
        {"what": "calibrate", "seconds": 0.02447, "ratio": 1.989},
    ],
    "step_size": "20 MB",
}
SEARCH = {
    **MACHINE,
    "n_train": 20000,
    "trials_per_batch": 4,
    "worker_thread_environment": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    "xgboost_two_over_one_workers": 1.861,
    "models": {
        "xgboost": {
            "workers": [
                {
                    "round": 0,
                    "workers": 1,
                    "schedule": "batch",
                    "trials": 48,
                    "wall_s": 52.81,
                    "trials_per_hour": 3272.0,
                    "ratio": 1.0,
                    "start_up_s": 1.234,
                },
                {
                    "round": 0,
                    "workers": 2,
                    "schedule": "batch",
                    "trials": 48,
                    "wall_s": 28.37,
                    "trials_per_hour": 6091.0,
                    "ratio": 1.861,
                    "start_up_s": 1.456,
                },
            ],  # fmt: skip
            "two_over_one_workers": {"median": 1.861, "min": 1.853},
            "schedule_cost": {"2": {"median": 1.072, "max": 1.09, "rounds": 2}},
            "parallel_ceiling": {"fit_s_one_process": 2.517, "ratio": 1.996, "fits": 4},
            "pruners": {"hyperband": {"name": "hyperband"}},
            "pruning_medians": {
                "none": {
                    "wall_ratio": 1.0,
                    "target_ratio": 0.4712,
                    "best_val_accuracy": 0.3381,
                    "reached_target": 5,
                },
                "hyperband": {
                    "wall_ratio": 0.5733,
                    "target_ratio": 0.4621,
                    "best_val_accuracy": 0.3372,
                    "reached_target": 3,
                    "replay": {"wall_ratio": 0.8111, "target_ratio": 0.4699, "reached_target": 4},
                },
                "oracle": {"replay": {"target_ratio": 0.3512}},
            },  # fmt: skip
            "rank_correlations": [
                {
                    "seed": 1234,
                    "unpruned_target_ratio": 0.4712,
                    "oracle_target_ratio": 0.3512,
                    "at_step_1": 0.6404,
                    "step_noise_median": 0.001234,
                    "final_spread": 0.02521,
                },
            ],  # fmt: skip
        }
    },
}


def test_render_tables_hold_the_json_numbers(tmp_path):
    bench = tmp_path / "results" / "bench"
    bench.mkdir(parents=True)
    (bench / "extraction.json").write_text(json.dumps(EXTRACTION))
    (bench / "search.json").write_text(json.dumps(SEARCH))
    (bench / "extra.json").write_text(json.dumps({**MACHINE, "speed_up": 2.345}))
    page = render(bench)

    rows = [line for line in page.splitlines() if line.startswith("|")]
    cells = {c.strip() for line in rows for c in line.strip("|").split("|")}
    numbers = [
        3.581, 3.912, 3.142, 9.081, 1.1397, 0.3943, 209.4, 827.1, 88784, 1.989,  # extraction
        3.581 / 3.142, 9.081 / 3.142,  # each reference over the plain read, computed
        1.861, 1.853, 1.996, 2.517, 1.072, 52.81, 28.37, 3272.0, 6091.0, 1.456,  # workers
        0.4712, 0.5733, 0.4621, 0.3381, 0.3372, 0.8111, 0.4699, 0.3512,  # pruning, replay
        0.6404, 0.001234, 0.02521, 20000, 4, 2.345,  # correlations, parameters, other JSON
    ]  # fmt: skip
    missing = [n for n in numbers if fmt(n) not in cells]
    assert missing == [], f"not in any table: {missing}"
    assert fmt(88784) == "88,784" and fmt(1.1397) == "1.14" and fmt(None) == "–"

    # The environment each benchmark recorded.
    assert "Linux-test-x86_64" in cells and "3.11.7" in cells
    assert "OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1" in cells
    # Generated, and says by what; benchmarks without JSON are named, not an error.
    assert "Generated, never typed" in page and "`make bench`" in page
    assert "python bench/render_performance.py" in page.replace("\n", " ")
    for name, script in (("layouts", "bench_layouts"), ("codecs", "bench_codecs"),
                         ("run", "bench_run")):  # fmt: skip
        section = page.split(f"writing `results/bench/{name}.json`")[0].rsplit("## ", 1)[1]
        assert f"bench/{script}.py" in section
        assert f"`results/bench/{name}.json` is missing" in page


RUN = {
    **MACHINE,
    "results": str(ROOT / "results" / "default"),
    "jobs": 94,
    "summed_job_s": 1095.3,
    "per_rule": [
        {
            "rule": "search_worker",
            "jobs": 14,
            "s": 547.6,
            "cpu_s": 530.1,
            "slowest_s": 215.2,
            "share": 0.5001,
        },
    ],  # fmt: skip
    "slowest_jobs": [
        {"job": "search_worker/svm_00", "s": 215.2, "cpu_s": 210.9, "max_rss_mb": 612.4}
    ],  # fmt: skip
}


def test_render_command_writes_the_page(tmp_path):
    bench, out = tmp_path / "bench", tmp_path / "docs" / "performance.md"
    bench.mkdir()
    (bench / "extraction.json").write_text(json.dumps(EXTRACTION))
    (bench / "run.json").write_text(json.dumps(RUN))
    subprocess.run(
        [sys.executable, str(ROOT / "bench/render_performance.py"), "--bench", str(bench),
         "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert out.read_text() == render(bench)
    page = out.read_text()
    for number in (94, 1095.3, 547.6, 530.1, 215.2, 0.5001, 612.4):
        assert f"| {fmt(number)} |" in page, number
    assert "finished run in `results/default`" in page  # inside the repository: relative
    assert "| project / root asnumpy | 0.394 |" in out.read_text()
