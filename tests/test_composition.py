"""Mass fractions from a template fit of the classifier output (src/uhecr/composition.py)."""

import re

import numpy as np
import pandas as pd
import pytest

from uhecr import composition as comp
from uhecr import evaluation, physics
from uhecr.showers import CLASSES

# Synthetic classifier output: one overlapping Gaussian per class (the real ones overlap more).
CENTRES = np.array([1.6, 1.9, 2.2, 2.5])


def _showers(n_per_class, seed=0, lg_range=(18.5, 20.0)):
    rng = np.random.default_rng(seed)
    label = np.repeat(np.arange(4), n_per_class)
    return pd.DataFrame(
        {
            "shower_id": [f"s:{k}" for k in range(len(label))],
            "label": label,
            "lg_energy": rng.uniform(*lg_range, len(label)),
            "n_stations": 5,
            "ln_a_score": rng.normal(CENTRES[label], 0.25),
        }
    )


def test_template_fit_recovers_known_fractions_within_its_errors():
    rng = np.random.default_rng(3)
    truth = np.array([0.4, 0.15, 0.2, 0.25])  # away from the 0 boundary
    edges = np.r_[-np.inf, np.linspace(1.2, 2.9, 11), np.inf]
    pulls = []
    for _ in range(150):  # fresh templates each time: their fluctuation is part of the error
        templates = np.array(
            [np.histogram(rng.normal(c, 0.15, 3000), edges)[0] for c in CENTRES], dtype=float
        )
        n_c = rng.multinomial(2000, truth)
        data = np.concatenate([rng.normal(CENTRES[c], 0.15, n_c[c]) for c in range(4)])
        fit = comp.fit_fractions(np.histogram(data, edges)[0], edges, templates)
        assert fit["valid"]
        pulls.append((fit["fractions"] - truth) / fit["fraction_errors"])
        ln_a_pull = (fit["ln_a"] - truth @ comp.LN_A) / fit["ln_a_error"]
        assert abs(ln_a_pull) < 5
    pulls = np.array(pulls)
    # Bias within the fit's uncertainty, and the HESSE errors describe the spread.
    assert np.abs(pulls.mean(axis=0)).max() < 0.3
    assert 0.75 < pulls.std(axis=0).min() and pulls.std(axis=0).max() < 1.3


def test_pseudo_experiments_cover_the_truth_and_record_their_size():
    showers = _showers(400)
    settings = comp.CompositionSettings(
        lg_energy_bins=(18.5, 20.0),
        n_bins=8,
        showers_per_experiment=150,
        pseudo_experiments=120,
        mixtures={"mixed": {"proton": 0.4, "helium": 0.2, "oxygen": 0.2, "iron": 0.2}},
    )
    experiments = comp.run_pseudo_experiments(showers, settings, seed=5)
    assert len(experiments) == 120 and experiments["valid"].all()
    assert (experiments["showers"] == 150).all()
    summary = comp.summarise(experiments).set_index("quantity")
    assert summary.loc["ln_a", "truth"] == pytest.approx(0.2 * np.log(4 * 16 * 56))
    assert abs(summary.loc["ln_a", "bias"]) < 3 * summary.loc["ln_a", "bias_error"] + 0.02
    assert 0.55 < summary.loc["ln_a", "coverage_68"] < 0.82
    for cls in CLASSES:
        assert 0.5 < summary.loc[f"f_{cls}", "coverage_68"] < 0.85


def test_small_pools_shrink_the_experiment_and_empty_bins_are_skipped(caplog):
    showers = _showers(30, lg_range=(18.5, 19.0))  # nothing above lg E 19
    settings = comp.CompositionSettings(
        lg_energy_bins=(18.5, 19.0, 20.0), showers_per_experiment=50, pseudo_experiments=3
    )
    with caplog.at_level("WARNING"):
        experiments = comp.run_pseudo_experiments(showers, settings, seed=1)
    assert set(experiments["lg_energy_bin"]) == {0}
    pure = experiments[experiments["mixture"] == "pure_proton"]
    assert (pure["showers"] == 15).all()  # the pool half of 30 protons
    assert "not fitted" in caplog.text and "15 showers per experiment" in caplog.text


def test_mixtures_and_bins_are_checked_naming_the_key():
    with pytest.raises(ValueError, match=r"composition.mixtures.bad: .* sum to 1"):
        comp.validate_settings(
            {"lg_energy_bins": [18.5, 20.0], "mixtures": {"bad": {"proton": 0.5}}}
        )
    with pytest.raises(ValueError, match=r"composition.mixtures.x: unknown primaries \['neon'\]"):
        comp.mixture_vector({"neon": 1.0}, "composition.mixtures.x")
    with pytest.raises(ValueError, match="lg_energy_bins must increase"):
        comp.validate_settings({"lg_energy_bins": [19.0, 18.5], "mixtures": {}})


def test_shower_observable_is_the_geometric_mean_of_station_probabilities():
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.25, 0.25, 0.25, 0.25]])
    pred = pd.DataFrame(
        {
            "shower_id": ["a", "a", "b"],
            "label": [0, 0, 3],
            "lg_energy": [19.0, 19.0, 19.5],
            **{f"p_{c}": probs[:, k] for k, c in enumerate(CLASSES)},
        }
    )
    out = comp.shower_observables(pred, pd.Series({"a": 700.0, "b": 750.0})).set_index("shower_id")
    geo = np.sqrt(probs[0] * probs[1])
    expected_a = (geo / geo.sum()) @ comp.LN_A
    assert out.loc["a", "ln_a_score"] == pytest.approx(expected_a)
    assert out.loc["b", "ln_a_score"] == pytest.approx(comp.LN_A.mean())
    assert out.loc["a", "n_stations"] == 2 and out.loc["b", "xmax"] == 750.0


@pytest.mark.parametrize(("primary", "mass"), [("proton", 1), ("iron", 56)])
def test_xmax_reference_recovers_ln_a(primary, mass):
    rng = np.random.default_rng(2)
    lg = rng.uniform(18.5, 20.0, 20_000)
    xmax = physics.sample_xmax(rng, lg, mass)
    ln_a, error = comp.xmax_ln_a(xmax, lg, "EPOS-LHC")
    # The Gumbel shape and the moment parametrisation differ by a few g/cm2 (sheet section 1).
    assert ln_a == pytest.approx(np.log(mass), abs=0.15)
    assert error < 0.03


def test_a_mixture_does_not_depend_on_the_other_mixtures_and_sums_are_exact():
    showers = _showers(60)
    mixed = {"proton": 0.6, "helium": 0.4000005}  # within the start-up check's tolerance
    base = dict(lg_energy_bins=(18.5, 20.0), showers_per_experiment=20, pseudo_experiments=4)
    alone = comp.run_pseudo_experiments(
        showers, comp.CompositionSettings(**base, mixtures={"m": mixed}), seed=3
    )
    with_other = comp.run_pseudo_experiments(
        showers,
        comp.CompositionSettings(**base, mixtures={"a_first": {"iron": 1.0}, "m": mixed}),
        seed=3,
    )
    pd.testing.assert_frame_equal(
        alone.reset_index(drop=True),
        with_other[with_other["mixture"] == "m"].reset_index(drop=True),
    )


def test_too_few_test_showers_is_an_error_naming_the_keys(tmp_path):
    label = np.repeat(np.arange(4), 2)
    pred = pd.DataFrame(
        {
            "shower_id": [f"s:{k}" for k in range(8)],
            "label": label,
            "lg_energy": 19.0,
            **{f"p_{c}": 0.25 for c in CLASSES},
        }
    )
    pred.to_parquet(tmp_path / "p.parquet")
    pred[["shower_id"]].to_parquet(tmp_path / "t.parquet")
    cfg = {
        "lg_energy_bins": [18.5, 20.0],
        "n_bins": 3,
        "showers_per_experiment": 2,
        "pseudo_experiments": 2,
        "template_fraction": 0.97,
        "mixtures": {"pure_iron": {"iron": 1.0}},
    }
    with pytest.raises(ValueError, match="composition.lg_energy_bins.*template_fraction"):
        comp.run_composition(
            tmp_path / "p.parquet",
            tmp_path / "t.parquet",
            cfg,
            "EPOS-LHC",
            1,
            tmp_path / "e.parquet",
            tmp_path / "s.csv",
        )


def test_histogram_bins_are_limited_by_the_template_statistics(caplog):
    showers = _showers(40)  # 20 template showers per class: at most 4 bins
    settings = comp.CompositionSettings(
        lg_energy_bins=(18.5, 20.0), n_bins=60, showers_per_experiment=10, pseudo_experiments=2
    )
    with caplog.at_level("WARNING"):
        experiments = comp.run_pseudo_experiments(showers, settings, seed=1)
    assert (experiments["n_bins"] == 4).all()
    assert "4 observable bins instead of composition.n_bins = 60" in caplog.text


def test_fit_sample_of_new_data_recovers_its_fractions_and_says_which_bins_it_skipped():
    """New data (unlabelled: label -1) fitted with all labelled held-out showers as templates:
    the fitted fractions agree with the truth within 3 sigma; an empty bin is reported."""
    templates = _showers(1500, seed=1)
    rng = np.random.default_rng(2)
    truth = np.array([0.5, 0.0, 0.2, 0.3])
    labels = rng.choice(4, size=1200, p=truth)
    sample = pd.DataFrame(
        {
            "label": -1,
            "lg_energy": rng.uniform(18.5, 19.0, len(labels)),
            "ln_a_score": rng.normal(CENTRES[labels], 0.25),
        }
    )
    settings = comp.CompositionSettings(lg_energy_bins=(18.5, 19.0, 20.0), n_bins=10)
    rows = comp.fit_sample(templates, sample, settings)
    fitted, empty = rows.iloc[0], rows.iloc[1]
    assert fitted["status"] == "fitted" and fitted["showers"] == 1200
    assert fitted["template_showers"] == int((templates["lg_energy"] < 19.0).sum())
    share = np.bincount(labels, minlength=4) / len(labels)
    for c, cls in enumerate(CLASSES):
        assert abs(fitted[f"f_{cls}"] - share[c]) < 3 * fitted[f"f_{cls}_error"] + 1e-3, cls
    assert abs(fitted["ln_a"] - share @ comp.LN_A) < 3 * fitted["ln_a_error"]
    assert "f_proton_true" not in rows  # unlabelled: no truth column
    assert empty["status"] == "no shower of the sample in this bin" and empty["showers"] == 0
    # Labelled new data: its true fractions are given per bin.
    labelled = comp.fit_sample(templates, sample.assign(label=labels), settings)
    np.testing.assert_allclose(
        labelled.iloc[0][[f"f_{c}_true" for c in CLASSES]].astype(float), share
    )
    # Too few pseudo-samples for an error (here one): the status says HESSE's alone is left.
    unreliable = comp.fit_sample(templates, sample, settings, n_toys=1).iloc[0]
    assert re.match(r"fitted: errors unreliable \(\d of 1 pseudo-samples", unreliable["status"])
    assert np.isfinite(unreliable["ln_a_error"]) and unreliable["toys"] <= 1


def test_shower_observables_agree_with_the_evaluation_product_rule():
    """Composition, application and evaluation group stations into showers the same way: the
    argmax of the shower probabilities is the evaluation's prediction, also where a station's
    probability is tiny (with its own floor of 1e-12 the composition chose proton here, the
    evaluation iron)."""
    probs = np.array(
        [
            [1 - 1e-6, 3e-7, 3e-7, 4e-7],
            [1 - 1e-6, 3e-7, 3e-7, 4e-7],
            [1e-20, 1e-9, 1e-9, 1 - 2e-9],  # vetoes proton under the product rule
        ]
    )
    pred = pd.DataFrame(
        {
            "shower_id": ["a", "a", "a"],
            "label": [3, 3, 3],
            "lg_energy": [19.0, 19.0, 19.0],
            **{f"p_{c}": probs[:, k] for k, c in enumerate(CLASSES)},
        }
    )
    out = comp.shower_observables(pred)
    decided = evaluation.combine_stations(pred)["prediction"].to_numpy()
    assert decided.tolist() == [3]
    assert out[[f"p_{c}" for c in CLASSES]].to_numpy().argmax(axis=1).tolist() == [3]


def test_shower_observables_refuse_a_shower_with_two_labels():
    pred = pd.DataFrame(
        {
            "shower_id": ["a", "a"],
            "label": [0, 3],
            "lg_energy": [19.0, 19.0],
            **{f"p_{c}": [0.25, 0.25] for c in CLASSES},
        }
    )
    with pytest.raises(ValueError, match="shower 'a' has stations with different"):
        comp.shower_observables(pred)


@pytest.mark.slow  # about 1,000 fits
@pytest.mark.parametrize(
    "truth", [[0.0, 1.0, 0.0, 0.0], [0.4, 0.2, 0.2, 0.2]], ids=["pure helium", "mixed"]
)
def test_fit_errors_of_a_few_tens_of_showers_cover_the_truth(truth):
    """Pseudo-experiments at the smallest samples a user applies (30 showers): the reported
    errors of a fraction and of <ln A> cover the true value about as often as one sigma
    should (HESSE alone gave fractions at the boundary errors of 0.000-0.002 and covered the
    mixed sample's helium fraction in half of the experiments), and no error is tighter than
    the spread of refits of such samples allows (one shower's share, near a boundary)."""
    templates = _showers(400, seed=1, lg_range=(18.5, 19.0))
    settings = comp.CompositionSettings(lg_energy_bins=(18.5, 19.0), n_bins=6)
    rng = np.random.default_rng(5)
    hits, errors = [], []
    for k in range(24):
        labels = rng.choice(4, size=30, p=truth)
        sample = pd.DataFrame(
            {
                "label": -1,
                "lg_energy": rng.uniform(18.5, 19.0, 30),
                "ln_a_score": rng.normal(CENTRES[labels], 0.25),
            }
        )
        row = comp.fit_sample(templates, sample, settings, seed=k, n_toys=40).iloc[0]
        share = np.bincount(labels, minlength=4) / 30
        hits.append(
            [
                abs(row["f_helium"] - share[1]) <= row["f_helium_error"],
                abs(row["ln_a"] - share @ comp.LN_A) <= row["ln_a_error"],
            ]
        )
        errors.append(min(row[f"f_{c}_error"] for c in CLASSES))
        assert row["toys"] >= 30 and row["ln_a_error"] >= row["ln_a_hesse_error"]
    coverage = np.mean(hits, axis=0)
    assert (coverage >= 0.55).all(), coverage  # one sigma: 0.68; 24 experiments: SE 0.1
    # No fraction known better than half a shower in 30 (HESSE: 0.000-0.002 at the boundary).
    assert min(errors) > 0.5 / 30, errors


def test_a_fit_that_cannot_tell_the_classes_apart_says_so():
    templates = _showers(300, seed=1, lg_range=(18.5, 19.0))
    templates["ln_a_score"] = np.random.default_rng(2).normal(2.0, 0.25, len(templates))
    sample = templates.head(40).assign(label=-1)
    settings = comp.CompositionSettings(lg_energy_bins=(18.5, 19.0), n_bins=4)
    row = comp.fit_sample(templates, sample, settings, n_toys=30).iloc[0]
    assert (
        row["status"] == f"fitted: fractions unconstrained (an error > {comp.UNCONSTRAINED_ERROR})"
    )
