"""Every model honours the shared interface and learns a separable problem."""

import numpy as np
import pytest

from uhecr import models

FAST = {
    "svm": {"C": 1.0, "kernel": "rbf", "n_components": 50},
    "xgboost": {"num_boost_round": 50, "max_depth": 3, "learning_rate": 0.3},
    "dae": {
        "encoding_dim": 2,
        "epochs": 15,
        "lr": 0.01,
        "tied_weights": True,
        "unit_norm_constraint": True,
        "weight_orthogonality": True,
        "ps": 0.05,
        "batch_size": 64,
    },
    "sdae": {"encoding_dim": [4, 2], "epochs": 15, "lr": 0.01, "one_cycle": True, "batch_size": 64},
    "vae": {"encoding_dim": 6, "latent_dim": 2, "epochs": 15, "lr": 0.01, "batch_size": 64},
}


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centers = np.array([[0, 0, 0, 0], [4, 0, 0, 4], [0, 4, 4, 0], [4, 4, 4, 4]], dtype=float)
    X = centers[y] + rng.normal(scale=0.5, size=(n, 4))
    return X[: n // 2], y[: n // 2], X[n // 2 :], y[n // 2 :]


@pytest.mark.parametrize("name", list(models.MODELS))
def test_interface_and_learning(name):
    X, y, Xv, yv = _data()
    reports = []
    m = models.build(name, FAST[name], seed=1).fit(
        X, y, Xv, yv, report=lambda s, a: reports.append((s, a))
    )
    proba = m.predict_proba(Xv)
    assert proba.shape == (len(Xv), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert m.predict(Xv).shape == (len(Xv),)
    # One decision rule: the predicted class is the most probable one (for the autoencoders,
    # the lowest raw reconstruction error), so station and shower-level results agree.
    np.testing.assert_array_equal(m.predict(Xv), proba.argmax(axis=1))
    acc = m.score(Xv, yv)
    floor = 0.5 if name in ("dae", "sdae", "vae") else 0.9
    assert acc > floor, f"{name}: accuracy {acc}"
    assert reports and all(0 <= a <= 1 for _, a in reports)


@pytest.mark.parametrize("name", ["xgboost", "dae"])
def test_same_seed_same_predictions(name):
    X, y, Xv, yv = _data()
    a = models.build(name, FAST[name], seed=5).fit(X, y).predict_proba(Xv)
    b = models.build(name, FAST[name], seed=5).fit(X, y).predict_proba(Xv)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_report_can_stop_training():
    X, y, Xv, yv = _data()

    class Stop(Exception):
        pass

    def report(step, acc):
        if step >= 2:
            raise Stop

    with pytest.raises(Stop):
        models.build("dae", FAST["dae"], 1).fit(X, y, Xv, yv, report=report)


def test_unknown_model():
    with pytest.raises(KeyError, match="unknown model 'rf'"):
        models.build("rf", {}, 1)


def test_autoencoder_probabilities_follow_the_lowest_error_rule():
    """Classes reconstructed with very different typical errors (here a noisy iron-like class)
    must not get a different winner in ``predict_proba`` than in ``predict``."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 1200)
    centers = np.array([[0, 0, 0, 0], [4, 0, 0, 4], [0, 4, 4, 0], [4, 4, 4, 4]], dtype=float)
    noise = np.array([0.2, 0.2, 0.2, 1.5])[y]
    X = centers[y] + rng.normal(size=(len(y), 4)) * noise[:, None]
    ambiguous = rng.uniform(-1, 5, size=(500, 4))
    m = models.build("dae", FAST["dae"], seed=1).fit(X, y)
    errors = m.reconstruction_errors(ambiguous)
    np.testing.assert_array_equal(m.predict(ambiguous), errors.argmin(axis=1))
    np.testing.assert_array_equal(m.predict_proba(ambiguous).argmax(axis=1), errors.argmin(axis=1))
