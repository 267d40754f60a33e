"""Replicate sweeps: their seeds, folders, and how their spread and the test set's variance
combine (hand-worked numbers)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from uhecr import replicates


def test_replicate_seeds_differ_and_the_main_sweep_keeps_the_configs():
    seeds = [replicates.replicate_seed(1234, r) for r in range(5)]
    assert seeds[0] == 1234 and len(set(seeds)) == 5
    assert seeds == [replicates.replicate_seed(1234, r) for r in range(5)]  # no state
    assert all(0 <= s < 2**31 - 1 - 1_000_000 for s in seeds)  # room for seed + slot


@pytest.mark.parametrize("replicate", [0, 1, 12])
def test_sweep_names_round_trip(replicate):
    name = replicates.sweep_name("xgboost_shower", replicate)
    assert replicates.parse_sweep(name) == ("xgboost_shower", replicate)
    assert (name == "xgboost_shower") == (replicate == 0)


def test_combined_interval_adds_the_sweep_variance_to_the_test_sets():
    values, ses = [0.40, 0.42, 0.44], [0.010, 0.012, 0.011]
    out = replicates.combine(values, ses, 0.99)
    within = (0.010**2 + 0.012**2 + 0.011**2) / 3
    between = 0.0004  # sample variance of 0.40, 0.42, 0.44
    assert out["mean"] == pytest.approx(0.42)
    assert out["sd"] == pytest.approx(0.02)
    assert out["test_set_se"] == pytest.approx(math.sqrt(within))
    assert out["se_mean"] == pytest.approx(math.sqrt(within + between / 3))
    df = (within + between / 3) ** 2 * 2 / (between / 3) ** 2
    assert out["df"] == pytest.approx(df)
    half = stats.t.ppf(0.995, df) * math.sqrt(within + between / 3)
    assert out["lower"] == pytest.approx(0.42 - half) and out["upper"] == pytest.approx(0.42 + half)
    assert out["single_run_se"] == pytest.approx(math.sqrt(within + between))
    assert out["sweep_share"] == pytest.approx(between / (within + between))
    # The combined interval is wider than the test set's alone.
    assert out["upper"] - out["lower"] > 2 * stats.norm.ppf(0.995) * math.sqrt(within)


def test_identical_replicates_leave_the_test_set_interval():
    out = replicates.combine([0.5, 0.5], [0.02, 0.02], 0.95)
    assert out["sd"] == 0 and out["sweep_share"] == 0 and out["df"] is None
    assert out["upper"] - 0.5 == pytest.approx(stats.norm.ppf(0.975) * 0.02)


def test_one_replicate_measures_no_sweep_variance():
    out = replicates.combine([0.5], [0.02], 0.99)
    assert out["sd"] is None and out["lower"] is None and out["test_set_se"] == 0.02


def _metrics(station, shower, n_showers=100):
    return {
        "unit": "station",
        "accuracy": {"value": station, "se_cluster": 0.01, "n": 1000},
        "event_level": {"accuracy": {"value": shower, "n": n_showers}},
    }


def test_paired_differences_count_the_replicates_each_model_leads():
    a = replicates.summarise_model([_metrics(0.40, 0.50), _metrics(0.41, 0.48)], 0.99)
    b = replicates.summarise_model([_metrics(0.38, 0.49), _metrics(0.42, 0.47)], 0.99)
    shower_only = {
        "shower": replicates.summarise_model([_metrics(0.3, 0.55), _metrics(0.3, 0.56)], 0.99)[
            "shower"
        ]
    }
    assert a["shower"]["test_set_se"] == pytest.approx(
        math.sqrt((0.5 * 0.5 / 100 + 0.48 * 0.52 / 100) / 2)
    )
    pairs = replicates.compare({"svm": a, "xgboost": b, "deepsets": shower_only})
    station = pairs[(pairs["unit"] == "station") & (pairs["model_b"] == "xgboost")].iloc[0]
    assert (station["a_ahead"], station["b_ahead"], station["tied"]) == (1, 1, 0)
    assert station["mean_difference"] == pytest.approx(((0.40 - 0.38) + (0.41 - 0.42)) / 2)
    shower = pairs[(pairs["unit"] == "shower") & (pairs["model_b"] == "xgboost")].iloc[0]
    assert (shower["a_ahead"], shower["b_ahead"]) == (2, 0)
    # A shower-level model is compared per shower only.
    assert set(pairs.loc[pairs["model_b"] == "deepsets", "unit"]) == {"shower"}
    table = replicates.replicate_comparisons_table(pairs)
    assert "1 of 2" in set(table["A ahead in"]) and "2 of 2" in set(table["A ahead in"])


def test_a_replicate_without_a_test_set_se_gives_no_combined_interval():
    """Too few test showers: metrics.json has se_cluster null; the summary says n/a, it does
    not fail the run."""
    thin = _metrics(0.4, 0.5, n_showers=5)
    thin["accuracy"]["se_cluster"] = None
    summary = replicates.summarise_model([thin, _metrics(0.42, 0.5, n_showers=5)], 0.99)
    station = summary["station"]
    assert station["lower"] is None and station["test_set_se"] is None
    assert station["sd"] == pytest.approx(0.0141421356) and station["mean"] == pytest.approx(0.41)
    assert summary["shower"]["lower"] is not None  # the per-shower level has its binomial SE
    table = replicates.replicates_table({"svm": summary})
    assert "[n/a, n/a]" in set(table.iloc[:, 7])


def test_one_model_has_no_pair_and_its_tables_keep_their_headers(tmp_path):
    """models.enabled with one model: no comparison, and both tables are still written (the
    LaTeX writer needs columns)."""
    summary = replicates.summarise_model([_metrics(0.4, 0.5), _metrics(0.41, 0.52)], 0.99)
    pairs = replicates.compare({"xgboost": summary})
    assert pairs.empty
    outputs = {
        name: tmp_path / f"{name}.out"
        for name in (
            "summary",
            "comparisons",
            "table",
            "table_tex",
            "comparisons_table",
            "comparisons_tex",
        )
    }
    replicates.render({"xgboost": [_metrics(0.4, 0.5), _metrics(0.41, 0.52)]}, 0.99, outputs)
    assert "Model A" in outputs["comparisons_table"].read_text()
    assert "tabularx" in outputs["comparisons_tex"].read_text()
