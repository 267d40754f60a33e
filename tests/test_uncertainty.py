"""Shower-clustered intervals: coverage, design effect, agreement with an analytic estimator."""

import numpy as np
import pytest

from uhecr.uncertainty import (
    IntervalSettings,
    cluster_robust_se,
    clustered_proportion,
    per_shower_sums,
    wilson_interval,
)


def _clustered_sample(rng, n_showers=150, mean_size=8, spread=4.0):
    """Stations whose success probability is shared within a shower (beta random effect)."""
    sizes = rng.poisson(mean_size - 1, n_showers) + 1
    p_shower = rng.beta(0.35 * spread, 0.65 * spread, n_showers)  # mean 0.35
    ids = np.repeat(np.arange(n_showers), sizes)
    return ids, rng.random(len(ids)) < p_shower[ids]


def _interval(ids, correct, settings, stream=(0,)):
    k, n = per_shower_sums(ids, correct, np.ones(len(correct)))
    return clustered_proportion(k, n, settings, stream)


def test_shower_bootstrap_covers_where_wilson_does_not():
    """Coverage of the true 0.35 over 150 repeated experiments at 90 % confidence."""
    rng = np.random.default_rng(2024)
    settings = IntervalSettings(confidence=0.90, n_resamples=2000, seed=1)
    boot = wilson = 0
    deffs = []
    reps = 150
    for rep in range(reps):
        ids, correct = _clustered_sample(rng)
        r = _interval(ids, correct, settings, (rep,))
        boot += r["lower"] <= 0.35 <= r["upper"]
        lo, hi = r["wilson_independent"]
        wilson += lo <= 0.35 <= hi
        deffs.append(r["design_effect"])
    # Binomial spread of a coverage estimate over 150 runs is about 0.025.
    assert 0.83 <= boot / reps <= 0.96, boot / reps
    assert wilson / reps < 0.75, wilson / reps  # nominal 0.90
    assert np.median(deffs) > 2


def test_design_effect_is_one_for_independent_stations():
    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(1500), 10)
    correct = rng.random(len(ids)) < 0.3
    r = _interval(ids, correct, IntervalSettings(seed=2))
    assert 0.85 < r["design_effect"] < 1.2
    assert r["n_effective"] == pytest.approx(r["n"] / r["design_effect"])
    assert r["n_showers"] == 1500 and r["n"] == 15000


def test_bootstrap_se_agrees_with_cluster_robust_se():
    rng = np.random.default_rng(6)
    ids, correct = _clustered_sample(rng, n_showers=1000)
    r = _interval(ids, correct, IntervalSettings(seed=3, n_resamples=4000))
    assert r["se_cluster"] == pytest.approx(cluster_robust_se(correct, ids), rel=0.08)
    assert r["se_cluster"] > 1.5 * r["se_binomial"]


def test_seeded_and_shower_order_invariant():
    rng = np.random.default_rng(7)
    ids, correct = _clustered_sample(rng)
    settings = IntervalSettings(seed=11)
    a = _interval(ids, correct, settings)
    assert _interval(ids, correct, settings) == a
    b = _interval(ids, correct, IntervalSettings(seed=12))
    assert b["value"] == a["value"] and b["lower"] != a["lower"]


def test_showers_without_trials_are_dropped_and_wilson_column_is_exact():
    ids = np.repeat(np.arange(50), 4)
    correct = np.tile([True, False, False, True], 50)
    k, n = per_shower_sums(ids, correct, np.ones(len(ids)))
    r = clustered_proportion(np.r_[k, 0], np.r_[n, 0], IntervalSettings(seed=1), (0,))
    assert r["n_showers"] == 50 and r["n"] == 200 and r["value"] == 0.5
    assert tuple(r["wilson_independent"]) == wilson_interval(100, 200, 0.99)
    # Every shower has the same proportion: the bootstrap distribution is one value and BCa is
    # undefined; NaN is reported rather than a zero-width interval that looks exact.
    assert np.isnan(r["lower"]) and np.isnan(r["upper"])


def test_too_few_showers_gives_nan_not_a_number_that_looks_rigorous():
    r = clustered_proportion([3.0], [5.0], IntervalSettings(seed=1), (0,))
    assert r["value"] == 0.6 and np.isnan(r["lower"]) and np.isnan(r["upper"])
