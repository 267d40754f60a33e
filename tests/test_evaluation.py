import numpy as np
import pandas as pd
import pytest
from scipy import stats

from uhecr import evaluation


@pytest.mark.parametrize(
    ("k", "n"), [(0, 10), (3, 10), (50, 100), (14177, 16016), (999, 1000), (1000, 1000)]
)
@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    lo, hi = evaluation.wilson_interval(k, n, confidence)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert lo == pytest.approx(ci.low, abs=1e-12)
    assert hi == pytest.approx(ci.high, abs=1e-12)


def test_wilson_hand_values():
    # 50/100 at 95 %: textbook (0.4038, 0.5962); at 99 %: centre 0.5, half-width 0.12472
    assert evaluation.wilson_interval(50, 100, 0.95) == pytest.approx((0.40383, 0.59617), abs=1e-5)
    assert evaluation.wilson_interval(50, 100, 0.99) == pytest.approx((0.37528, 0.62472), abs=1e-5)
    # k = 0: lower bound exactly 0, upper z^2 / (n + z^2)
    z = stats.norm.ppf(0.995)
    assert evaluation.wilson_interval(0, 20, 0.99) == pytest.approx(
        (0.0, z**2 / (20 + z**2)), abs=1e-12
    )
    with pytest.raises(ValueError):
        evaluation.wilson_interval(0, 0)


def test_reference_halfwidths_correspond_to_whole_dataset():
    """The study's stated half-widths are reproduced with n = 80,089, not with its test n."""
    table = evaluation.reference_comparison({})
    np.testing.assert_allclose(
        table["reference_halfwidth_n_all"], table["reference_stated_halfwidth"], rtol=2e-3
    )
    assert (table["reference_halfwidth_n_test"] > 2 * table["reference_stated_halfwidth"]).all()


def test_classification_metrics_counts():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    p = np.array([0, 1, 1, 1, 2, 0, 3, 3])
    m = evaluation.classification_metrics(y, p)
    assert m["accuracy"]["value"] == pytest.approx(6 / 8) and m["accuracy"]["n"] == 8
    assert m["confusion_matrix"][0] == [1, 1, 0, 0]
    assert m["per_class"]["proton"]["recall"]["n"] == 2
    assert m["per_class"]["proton"]["precision"]["n"] == 2  # predicted 0 twice
    assert m["per_class"]["helium"]["precision"]["value"] == pytest.approx(2 / 3)
    lo, hi = evaluation.wilson_interval(6, 8, 0.99)
    assert (m["accuracy"]["lower"], m["accuracy"]["upper"]) == (lo, hi)


def _preds(correct, seed=0):
    n = len(correct)
    label = np.arange(n) % 4
    pred = np.where(correct, label, (label + 1) % 4)
    return pd.DataFrame(
        {
            "shower_id": [f"s{i // 3}" for i in range(n)],
            "station_id": np.arange(n) % 3,
            "label": label,
            "prediction": pred,
        }
    )


def test_mcnemar_exact_and_holm():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(1)
    a = rng.random(600) < 0.8
    b = a.copy()
    b[:40] = ~b[:40]  # discordant pairs
    c = rng.random(600) < 0.5
    rows = evaluation.paired_comparisons({"a": _preds(a), "b": _preds(b), "c": _preds(c)})
    ab = next(r for r in rows if {r["model_a"], r["model_b"]} == {"a", "b"})
    table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
    assert ab["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    ps = sorted(r["p_value"] for r in rows)
    holm = sorted(r["p_holm"] for r in rows)
    assert holm[0] == pytest.approx(min(1, 3 * ps[0]))
    ac = next(r for r in rows if {r["model_a"], r["model_b"]} == {"a", "c"})
    assert ac["significant"]


def test_comparison_needs_same_test_stations():
    a = _preds(np.ones(30, bool))
    b = _preds(np.ones(30, bool)).iloc[:20]
    with pytest.raises(ValueError, match="lacks predictions"):
        evaluation.paired_comparisons({"a": a, "b": b})
