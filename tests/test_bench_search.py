"""The sweep benchmark's replay of pruners, its floor and its rank correlations
(bench/bench_search.py), on made-up learning curves whose outcome is worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_search  # noqa: E402

CFG = {**bench_search.CONFIG["models"]["dae"], "fixed": {"epochs": 4}}


def trial(seconds, values, gap=1.0, seed=0):
    """One recorded trial: ``values`` at steps 1, 2, ...; its final value the last one."""
    curve = list(enumerate(values, start=1))
    return {"gap_s": gap, "seconds": seconds, "curve": curve, "value": values[-1], "seed": seed}


def reference(*trials, tail=0.5):
    wall = sum(t["gap_s"] + t["seconds"] for t in trials) + tail
    return {"curves": list(trials), "wall_s": wall}


def test_replay_prunes_as_optuna_and_charges_the_share_of_steps():
    ref = reference(
        trial(4, [0.30, 0.32, 0.34, 0.36], seed=1),
        trial(4, [0.20, 0.21, 0.22, 0.23], seed=2),  # below trial 0 at step 1: pruned there
        trial(4, [0.31, 0.33, 0.35, 0.40], seed=3),  # never below trial 0: trains in full
    )
    median = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
    out = bench_search.replay("dae", CFG, "median", median, ref, target=0.39)
    # 1 + 4 (trial 0), 1 + 4/4 (trial 1 stopped after 1 of 4 steps), 1 + 4 (trial 2)
    assert out["pruned"] == 1 and out["kept_unpruned_best"]
    assert out["best_val_accuracy"] == 0.40
    assert out["target_ratio"] == pytest.approx(12 / 15.5)
    assert out["wall_ratio"] == pytest.approx(12 / 15.5)


def test_replay_without_pruning_takes_the_unpruned_time():
    ref = reference(
        trial(4, [0.30, 0.32, 0.34, 0.36]),
        trial(4, [0.20, 0.21, 0.22, 0.23]),
        trial(4, [0.31, 0.33, 0.35, 0.40]),
    )
    late = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 10}  # after every step
    out = bench_search.replay("dae", CFG, "late", late, ref, target=0.39)
    assert out["pruned"] == 0
    assert out["target_ratio"] == pytest.approx(15 / 15.5)


def test_replay_of_a_pruner_that_cuts_the_best_never_reaches_the_target():
    ref = reference(
        trial(4, [0.30, 0.32, 0.34, 0.36]),
        trial(4, [0.10, 0.20, 0.30, 0.45]),  # slow starter, the best: pruned at step 1
    )
    median = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
    out = bench_search.replay("dae", CFG, "median", median, ref, target=0.44)
    assert out["pruned"] == 1 and not out["kept_unpruned_best"]
    assert out["target_ratio"] is None and out["best_val_accuracy"] == 0.36


def test_oracle_floor_takes_the_cheapest_trial_at_the_target_and_the_first_in_full():
    ref = reference(
        trial(4, [0.28, 0.29, 0.30, 0.30]),
        trial(8, [0.30, 0.35, 0.38, 0.40]),
        trial(2, [0.30, 0.36, 0.38, 0.395]),
        tail=0.0,
    )  # wall 17
    # Through trial 1: 1 + 4 + 1 + 8 = 14. Through trial 2, trial 1 stopped at step 1 of 4:
    # 1 + 4 + 1 + 2 + 1 + 2 = 11. Trial 0 counts in full (no pruner stops the first trial).
    assert bench_search.oracle_floor(ref, 0.39) == pytest.approx(11 / 17)
    assert bench_search.oracle_floor(ref, 0.40) == pytest.approx(14 / 17)
    assert bench_search.oracle_floor(ref, 0.41) is None


def test_a_trial_that_reported_no_step_runs_in_full():
    # An XGBoost trial of 10 rounds stopped early reports no step (a step is 10 rounds).
    ref = reference(trial(4, [0.30, 0.32]), {**trial(2, [0.5]), "curve": []}, trial(4, [0.1, 0.4]))
    median = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
    out = bench_search.replay("dae", CFG, "median", median, ref, target=0.45)
    assert out["pruned"] == 1 and out["target_ratio"] == pytest.approx(8 / 13.5)
    # Floor: 1 + 4 (first trial) + 1 + 2 (no step: in full) = 8 of 13.5.
    assert bench_search.oracle_floor(ref, 0.45) == pytest.approx(8 / 13.5)


def test_rank_correlations_at_steps_over_the_trials_that_reached_them():
    curves = [trial(1, [0.1 * k] * 3 + [0.1 * k + 0.01] * 7 + [0.2 * k]) for k in range(1, 5)] + [
        trial(1, [0.9])
    ]  # stopped after one step: counts at step 1 only
    out = bench_search.rank_correlations(curves)
    assert out["at_step_1"] == pytest.approx(1.0)
    assert out["at_step_10"] == pytest.approx(1.0)
    # Only trials that reached the step count: two long trials and three stopped after a step
    # are too few at step 10 (counting the short ones by their last value would give 1.0).
    mixed = [trial(1, [0.1 * k] * 10) for k in (1, 2)] + [
        trial(1, [0.5 + 0.1 * k]) for k in (1, 2, 3)
    ]
    assert bench_search.rank_correlations(mixed)["at_step_10"] is None
    assert bench_search.rank_correlations(mixed)["at_step_1"] == pytest.approx(1.0)
    reversed_ = [trial(1, [1 - 0.1 * k, 0.1 * k]) for k in range(1, 5)]
    assert bench_search.rank_correlations(reversed_)["at_step_1"] == pytest.approx(-1.0)
    assert bench_search.rank_correlations(reversed_[:2])["at_step_1"] is None  # < 3 trials


@pytest.mark.parametrize(
    ("option", "spec", "named"),
    [
        ("--replay-pruners", "bogus", "'bogus' is not median"),
        ("--replay-pruners", "median:min_resource=2", "'min_resource=2' is not KEY=VALUE"),
        ("--pruners", "hyperband:reduction_factor=x", "hyperband:reduction_factor=x"),
    ],
)
def test_a_bad_pruner_spec_stops_the_benchmark_before_any_sweep(option, spec, named, tmp_path):
    import subprocess

    script = Path(bench_search.__file__)
    missing = tmp_path / "no-table.parquet"  # never read: the spec fails first
    run = subprocess.run(
        [sys.executable, str(script), "--table", str(missing), option, spec],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert spec in run.stderr and named in run.stderr, run.stderr[-2000:]
    assert "no-table" not in run.stderr  # it did not get as far as reading the table
