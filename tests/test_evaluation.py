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


INTERVALS = evaluation.IntervalSettings(confidence=0.99, n_resamples=2000, seed=3)


def test_classification_metrics_counts():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    p = np.array([0, 1, 1, 1, 2, 0, 3, 3])
    showers = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    m = evaluation.classification_metrics(y, p, showers, INTERVALS)
    assert m["accuracy"]["value"] == pytest.approx(6 / 8) and m["accuracy"]["n"] == 8
    assert m["accuracy"]["n_showers"] == 4
    assert m["confusion_matrix"][0] == [1, 1, 0, 0]
    assert m["per_class"]["proton"]["recall"]["n"] == 2
    assert m["per_class"]["proton"]["precision"]["n"] == 2  # predicted 0 twice
    assert m["per_class"]["helium"]["precision"]["value"] == pytest.approx(2 / 3)
    # The study's convention survives only as the labelled "independent stations" column.
    assert tuple(m["accuracy"]["wilson_independent"]) == evaluation.wilson_interval(6, 8, 0.99)
    assert m["accuracy"]["resampling_unit"] == "shower"
    assert m["chance_accuracy"] == pytest.approx(0.25)


def _preds(correct, labels=None, per_shower=3):
    """Test predictions: one primary per shower; probability 0.7 on the predicted class."""
    n = len(correct)
    label = (np.arange(n) // per_shower) % 4 if labels is None else labels
    pred = np.where(correct, label, (label + 1) % 4)
    frame = pd.DataFrame(
        {
            "shower_id": [f"s{i // per_shower:05d}" for i in range(n)],
            "station_id": np.arange(n) % per_shower,
            "label": label,
            "prediction": pred,
        }
    )
    for k, c in enumerate(evaluation.CLASSES):
        frame[f"p_{c}"] = np.where(pred == k, 0.7, 0.1)
    return frame


def test_paired_comparisons_resample_showers_and_holm():
    rng = np.random.default_rng(1)
    n_showers, m = 300, 8
    # Shower-level quality: whole showers are easy or hard, for both models alike.
    easy = np.repeat(rng.random(n_showers) < 0.5, m)
    a = rng.random(n_showers * m) < np.where(easy, 0.9, 0.2)
    b = a.copy()
    # The models differ on whole showers only: a better on 24 showers, b on 16 (8 stations
    # each). McNemar sees 192 vs 128 discordant stations; the showers say 24 vs 16.
    a_better = np.repeat(np.isin(np.arange(n_showers), np.arange(0, 24)), m)
    b_better = np.repeat(np.isin(np.arange(n_showers), np.arange(100, 116)), m)
    a[a_better], b[a_better] = True, False
    a[b_better], b[b_better] = False, True
    c = rng.random(n_showers * m) < 0.25
    preds = {k: _preds(v, per_shower=m) for k, v in {"a": a, "b": b, "c": c}.items()}
    rows = evaluation.paired_comparisons(preds, INTERVALS)
    station = [r for r in rows if r["unit"] == "station"]
    assert len(station) == 3 and len(rows) == 6  # and the three pairs per shower
    ab = next(r for r in station if {r["model_a"], r["model_b"]} == {"a", "b"})
    assert ab["n_showers"] == n_showers and ab["n_stations"] == n_showers * m
    assert ab["difference"] == pytest.approx(a.mean() - b.mean())
    assert ab["difference_lower"] < ab["difference"] < ab["difference_upper"]
    # Stations of a shower move together, so the clustered test is far less confident
    # than McNemar's, which treats the 2,400 stations as independent.
    assert ab["design_effect"] > 3
    assert ab["p_mcnemar_independent"] < 0.01 < 0.1 < ab["p_value"]
    assert not ab["significant"]
    ps = sorted(r["p_value"] for r in rows)
    holm = sorted(r["p_holm"] for r in rows)
    assert holm[0] == pytest.approx(min(1, 6 * ps[0]))  # Holm over all six rows
    ac = next(r for r in station if {r["model_a"], r["model_b"]} == {"a", "c"})
    assert ac["significant"] and ac["p_holm"] < 0.01
    again = evaluation.paired_comparisons(preds, INTERVALS)
    assert again == rows  # seeded: same numbers twice


def test_shower_level_models_are_compared_per_shower_only():
    """A shower-level model has no per-station comparison; per shower every model is compared
    on the same showers, station models with their stations combined."""
    rng = np.random.default_rng(4)
    n_showers, m = 200, 5
    a = rng.random(n_showers * m) < 0.6
    shower_correct = np.repeat(rng.random(n_showers) < 0.7, m)  # one outcome per shower
    preds = {"a": _preds(a, per_shower=m), "b": _preds(a, per_shower=m)}
    preds["deep"] = _preds(shower_correct, per_shower=m)
    rows = evaluation.paired_comparisons(preds, INTERVALS, {"deep": "shower"})
    assert {(r["unit"], r["model_a"], r["model_b"]) for r in rows} == {
        ("station", "a", "b"),
        ("shower", "a", "b"),
        ("shower", "a", "deep"),
        ("shower", "b", "deep"),
    }
    deep = next(r for r in rows if r["unit"] == "shower" and r["model_b"] == "deep")
    assert deep["n_stations"] == deep["n_showers"] == n_showers
    combined = evaluation.combine_stations(preds["a"])
    a_shower = (combined["prediction"] == combined["label"]).mean()
    assert deep["accuracy_b"] == pytest.approx(shower_correct[::m].mean())
    assert deep["accuracy_a"] == pytest.approx(a_shower)


def test_one_model_has_no_pairs():
    assert evaluation.paired_comparisons({"a": _preds(np.ones(30, bool))}, INTERVALS) == []


def test_comparison_needs_same_test_stations():
    a = _preds(np.ones(30, bool))
    b = _preds(np.ones(30, bool)).iloc[:20]
    with pytest.raises(ValueError, match="lacks predictions"):
        evaluation.paired_comparisons({"a": a, "b": b}, INTERVALS)


def _station_probabilities(showers: dict[str, tuple[int, list[list[float]]]]) -> pd.DataFrame:
    rows = []
    for sid, (label, probs) in showers.items():
        for i, p in enumerate(probs):
            rows.append(
                {"shower_id": sid, "station_id": i, "label": label}
                | {f"p_{c}": v for c, v in zip(evaluation.CLASSES, p, strict=True)}
            )
    return pd.DataFrame(rows)


def test_combine_stations_is_the_product_of_station_probabilities():
    frame = _station_probabilities(
        {
            # Two clear votes for helium beat one strong vote for proton: product rule.
            "s1": (1, [[0.7, 0.1, 0.1, 0.1], [0.2, 0.75, 0.03, 0.02], [0.2, 0.75, 0.03, 0.02]]),
            "s2": (3, [[0.1, 0.1, 0.1, 0.7]]),
        }
    )
    flat = evaluation.combine_stations(frame)
    assert flat["prediction"].tolist() == [1, 3]
    assert flat["n_stations"].tolist() == [3, 1]
    p = frame.loc[frame["shower_id"] == "s1", [f"p_{c}" for c in evaluation.CLASSES]].to_numpy()
    assert np.argmax(np.prod(p, axis=0)) == 1


def test_combine_stations_does_not_depend_on_the_scale_of_softmax_scores():
    """SVM margins and autoencoder errors become probabilities by a softmax whose scale is
    arbitrary: the shower decision must not change with it."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 4))
    showers = np.repeat(np.arange(40), 5)
    decisions = []
    for scale in (0.3, 1.0, 4.0):
        z = np.exp(scale * scores)
        proba = z / z.sum(axis=1, keepdims=True)
        frame = pd.DataFrame(proba, columns=[f"p_{c}" for c in evaluation.CLASSES])
        frame["shower_id"] = [f"s{i:02d}" for i in showers]
        frame["label"] = 0
        decisions.append(evaluation.combine_stations(frame)["prediction"].to_numpy())
    np.testing.assert_array_equal(decisions[0], decisions[1])
    np.testing.assert_array_equal(decisions[1], decisions[2])
    summed = np.add.reduceat(scores, np.arange(0, 200, 5), axis=0)
    np.testing.assert_array_equal(decisions[0], summed.argmax(axis=1))


def test_combine_stations_refuses_mixed_primaries():
    frame = _station_probabilities({"s1": (1, [[0.25] * 4])})
    frame = pd.concat([frame, frame.assign(station_id=1, label=2)])
    with pytest.raises(ValueError, match="different true primaries"):
        evaluation.combine_stations(frame)


def test_event_metrics_wilson_over_showers():
    showers = pd.DataFrame(
        {"shower_id": list("abcdefgh"), "n_stations": 3, "label": [0, 0, 1, 1, 2, 2, 3, 3]}
    )
    showers["prediction"] = [0, 0, 1, 0, 2, 2, 3, 1]
    m = evaluation.event_metrics(showers, 0.99)
    assert m["accuracy"]["value"] == pytest.approx(6 / 8) and m["accuracy"]["n"] == 8
    assert (m["accuracy"]["lower"], m["accuracy"]["upper"]) == evaluation.wilson_interval(6, 8)
    assert m["recall"]["helium"]["value"] == pytest.approx(0.5)


def test_shower_constant_features():
    df = pd.DataFrame(
        {
            "shower_id": ["a", "a", "b", "b"],
            "lg_energy": [19.0, 19.0, 19.5, 19.5],
            "zeta_rad": [0.1, 2.0, -1.0, 0.3],
            "zenith_deg": [30.0, 30.0, 10.0, 10.0],
        }
    )
    assert evaluation.shower_constant_features(df, ["lg_energy", "zeta_rad", "zenith_deg"]) == [
        "lg_energy",
        "zenith_deg",
    ]


def test_per_shower_accuracy_in_energy_bins_uses_wilson_over_the_bins_showers():
    showers = pd.DataFrame(
        {
            "shower_id": list("abcdef"),
            "n_stations": 3,
            "label": [0, 0, 1, 1, 3, 3],
            "prediction": [0, 1, 1, 1, 3, 0],
            "lg_energy": [18.6, 18.6, 18.6, 19.9, 19.9, 19.9],
            "zenith_deg": 20.0,
        }
    )
    binned = evaluation.event_metrics(showers, 0.99)["binned"]
    low, high = binned["lg_energy"][0], binned["lg_energy"][-1]
    assert (low["n"], low["value"]) == (3, pytest.approx(2 / 3))
    assert (low["lower"], low["upper"]) == evaluation.wilson_interval(2, 3, 0.99)
    assert (high["n"], high["value"]) == (3, pytest.approx(2 / 3))
    assert high["chance_accuracy"] == pytest.approx(2 / 3)  # two iron showers of three
    assert sum(r["n"] for r in binned["zenith_deg"]) == 6


def test_combined_showers_carry_their_energy_and_zenith():
    frame = _station_probabilities({"s1": (1, [[0.25] * 4, [0.1, 0.6, 0.2, 0.1]])})
    frame = frame.assign(lg_energy=19.2, zenith_deg=33.0)
    out = evaluation.combine_stations(frame)
    assert out[["lg_energy", "zenith_deg"]].iloc[0].tolist() == [19.2, 33.0]


def test_stations_without_a_label_are_an_error_not_a_label_conflict():
    frame = pd.DataFrame(
        {
            "shower_id": ["a", "a"],
            "label": [np.nan, np.nan],
            **{f"p_{c}": [0.25, 0.25] for c in evaluation.CLASSES},
        }
    )
    with pytest.raises(ValueError, match="without a label"):
        evaluation.combine_stations(frame)
