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


def _interval(ids, correct, settings, stream=("q",)):
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
        r = _interval(ids, correct, settings, ("rep", rep))
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
    r = clustered_proportion(np.r_[k, 0], np.r_[n, 0], IntervalSettings(seed=1), ("q",))
    assert r["n_showers"] == 50 and r["n"] == 200 and r["value"] == 0.5
    assert tuple(r["wilson_independent"]) == wilson_interval(100, 200, 0.99)
    # Every shower has the same proportion: the bootstrap distribution is one value. NaN is
    # reported, with the reason, rather than a zero-width interval that looks exact.
    assert np.isnan(r["lower"]) and np.isnan(r["upper"]) and "degenerate" in r["interval_missing"]


@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
def test_degenerate_quantity_has_no_interval_whatever_the_method(method):
    ids = np.repeat(np.arange(30), 3)
    k, n = per_shower_sums(ids, np.ones(len(ids)), np.ones(len(ids)))
    r = clustered_proportion(k, n, IntervalSettings(seed=1, method=method), ("q",))
    assert r["value"] == 1.0 and np.isnan(r["lower"]) and np.isnan(r["design_effect"])


@pytest.mark.parametrize("n_showers", [1, 2, 5, 9])
def test_too_few_showers_give_no_interval(n_showers):
    rng = np.random.default_rng(n_showers)
    k = rng.integers(0, 5, n_showers).astype(float)
    r = clustered_proportion(k, np.full(n_showers, 5.0), IntervalSettings(seed=1), ("q",))
    assert np.isnan(r["lower"]) and f"{n_showers} showers" in r["interval_missing"]


def test_streams_are_distinct_per_name_and_reproducible():
    s = IntervalSettings(seed=7)
    draws = {
        name: s.rng(*name).integers(0, 2**63, 4).tolist()
        for name in [("a",), ("a", ""), ("a", "0"), ("", "a"), ("a", "b"), ("ab",)]
    }
    assert len({tuple(v) for v in draws.values()}) == len(draws)
    assert s.rng("a", "b").integers(0, 2**63, 4).tolist() == draws[("a", "b")]


def test_paired_difference_identical_models_and_too_few_showers():
    from uhecr.uncertainty import paired_difference

    ids = np.repeat(np.arange(40), 3)
    same = np.tile([True, False, True], 40)
    r = paired_difference(same, same, ids, IntervalSettings(seed=1), ("p",))
    assert r["difference"] == 0 and r["p_value"] == 1.0 and "agree" in r["interval_missing"]
    few = paired_difference(same[:3], ~same[:3], ids[:3], IntervalSettings(seed=1), ("p",))
    assert np.isnan(few["p_value"]) and "1 showers" in few["interval_missing"]


def test_json_safe_turns_nan_into_null():
    import json

    from uhecr.jobs import json_safe

    text = json.dumps(
        json_safe({"a": float("nan"), "b": [np.float64("inf"), 1.5]}), allow_nan=False
    )
    assert json.loads(text) == {"a": None, "b": [None, 1.5]}
