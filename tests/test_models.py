"""Every model honours the shared interface and learns a separable problem."""

from functools import partial

import numpy as np
import pytest

from uhecr import models
from uhecr.models import autoencoders, deepsets, keras_layers, keras_training

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
    "deepsets": {"phi_units": 16, "rho_units": 16, "epochs": 15, "lr": 0.01, "batch_size": 32},
    "xgboost_shower": {"num_boost_round": 50, "max_depth": 3, "learning_rate": 0.3},
}
# Station feature names of _data (the shower-feature model reads columns by name).
FEATURES = ["lg_energy", "zenith_deg", "core_distance_m", "lg_total_signal", "rise_time_ns"]


def _data(n=1200, seed=0):
    """Stations of showers of 1-8 stations; every station of a shower has its class."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n)
    sizes = sizes[np.cumsum(sizes) <= n]
    shower_label = rng.integers(0, 4, len(sizes))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = shower_label[groups]
    centers = np.array(
        [[19, 30, 900, 1.0, 200], [19, 30, 1100, 1.6, 150], [19, 30, 800, 2.2, 300],
         [19, 30, 1200, 2.8, 100]],
        dtype=float,
    )  # fmt: skip
    scale = np.array([0.3, 10, 150, 0.25, 40])
    X = centers[y] + rng.normal(size=(len(y), 5)) * scale
    half = groups < len(sizes) // 2
    return (X[half], y[half], groups[half]), (X[~half], y[~half], groups[~half])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(models.MODELS))
def test_interface_and_learning(name, tmp_path):
    (X, y, g), (Xv, yv, gv) = _data()
    reports = []
    m = models.build(name, FAST[name], seed=1, features=FEATURES).fit(
        X, y, Xv, yv, report=lambda s, a: reports.append((s, a)), groups=g, groups_val=gv
    )
    proba = m.predict_proba(Xv, gv)
    assert proba.shape == (len(Xv), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert m.predict(Xv, gv).shape == (len(Xv),)
    # One decision rule: the predicted class is the most probable one (for the autoencoders,
    # the lowest raw reconstruction error), so station and shower-level results agree.
    np.testing.assert_array_equal(m.predict(Xv, gv), proba.argmax(axis=1))
    acc = m.score(Xv, yv, gv)
    floor = 0.5 if name in ("dae", "sdae", "vae") else 0.9
    assert acc > floor, f"{name}: accuracy {acc}"
    # Models trained in one fit (SVM) report nothing: a pruner could only mislabel them.
    assert bool(reports) == (name != "svm") and all(0 <= a <= 1 for _, a in reports)
    assert m.history and all(0 <= h["val_accuracy"] <= 1 for h in m.history)
    # The step is the training resource used so far (the pruners' unit): 1, 2, ... epochs or
    # blocks of boosting rounds, every one reported.
    steps = [s for s, _ in reports] or [h["step"] for h in m.history]
    assert steps == list(range(1, len(steps) + 1)), steps
    if "epochs" in FAST[name]:
        assert steps[-1] == FAST[name]["epochs"]
    if m.level == "shower":
        # One prediction per shower, on all its stations; the score counts each shower once.
        for shower in np.unique(gv)[:50]:
            rows = proba[gv == shower]
            np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape))
        first = np.unique(gv, return_index=True)[1]
        assert acc == np.mean(proba.argmax(axis=1)[first] == yv[first])
        with pytest.raises(ValueError, match="shower-level model"):
            m.predict_proba(Xv)
    # Saved and loaded in a fresh object: the same probabilities, without refitting.
    m.save(tmp_path / name)
    loaded = models.load(tmp_path / name)
    assert type(loaded) is type(m) and loaded is not m
    np.testing.assert_allclose(loaded.predict_proba(Xv, gv), proba, rtol=1e-5, atol=1e-7)


def test_deep_sets_handles_any_shower_size_and_ignores_order_and_padding():
    """Showers of 1 to 40 stations (larger than any in training); the probabilities of a shower
    do not depend on its stations' order or on the other showers it is padded with."""
    (X, y, g), (Xv, yv, gv) = _data()
    m = models.build("deepsets", FAST["deepsets"], seed=2).fit(X, y, groups=g)
    rng = np.random.default_rng(9)
    big = Xv[:40] + rng.normal(size=(40, 5))
    single = m.predict_proba(big[:1], np.zeros(1))
    alone = m.predict_proba(big, np.zeros(40))
    perm = rng.permutation(40)
    np.testing.assert_allclose(m.predict_proba(big[perm], np.zeros(40)), alone, rtol=1e-5)
    # The one-station shower, alone and next to the 40-station one (padded to 40 then).
    both = m.predict_proba(np.vstack([big[:1], big]), np.r_[0, np.ones(40)])
    np.testing.assert_allclose(both[0], single[0], rtol=1e-5)
    np.testing.assert_allclose(both[1:], alone, rtol=1e-5)
    assert not np.allclose(single[0], alone[0])  # the other stations do matter


def test_shower_features_fit_lines_per_shower():
    from uhecr.features import SHOWER_FEATURES, shower_features

    r = np.array([500.0, 1000.0, 2000.0, 1200.0])
    lg_s = 1.5 - 3.0 * np.log10(r / 1000)
    rise = 100 + 150 * (r / 1000 - 1)
    X = np.column_stack([np.full(4, 19.2), np.full(4, 60.0), r, lg_s, rise])
    F = shower_features(X, FEATURES, np.array([0, 0, 0, 1]))
    col = {name: F[:, k] for k, name in enumerate(SHOWER_FEATURES)}
    np.testing.assert_allclose(col["lg_s1000"][0], 1.5)
    np.testing.assert_allclose(col["ldf_slope"][0], -3.0)
    np.testing.assert_allclose(col["rise_time_1000m_ns"][0], 100)
    np.testing.assert_allclose(col["rise_time_slope_ns_per_km"][0], 150)
    np.testing.assert_allclose(col["lg_s1000_minus_lg_energy"][0], 1.5 - 1.2)
    np.testing.assert_allclose(col["sec_zenith"], 2.0)
    assert list(col["n_stations"]) == [3, 1]
    assert np.isnan(col["ldf_slope"][1])  # one station: no line
    with pytest.raises(KeyError, match="models.features"):
        shower_features(X[:, :3], FEATURES[:3], np.zeros(4, dtype=int))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["xgboost", "dae", "deepsets"])
def test_same_seed_same_predictions(name):
    (X, y, g), (Xv, yv, gv) = _data()
    a = models.build(name, FAST[name], seed=5).fit(X, y, groups=g).predict_proba(Xv, gv)
    b = models.build(name, FAST[name], seed=5).fit(X, y, groups=g).predict_proba(Xv, gv)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_report_can_stop_training():
    (X, y, _), (Xv, yv, _) = _data()

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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, epochs", [("dae", 1), ("dae", 3), ("sdae", 3), ("vae", 3), ("deepsets", 3)]
)
def test_keras_input_pipeline_trains_bit_identically_to_arrays_in_order(name, epochs):
    """Without shuffling, ``fit_arrays``/``predict_arrays`` (tf.data without its autotuning thread, which
    slowed parallel sweep workers) must give the very training and predictions of Keras on
    arrays: the same batches and the same optimizer steps (schedules, Adam's bias correction;
    an unknown length would add an empty step per epoch). Deep Sets has two inputs, the SDAE a
    OneCycle schedule, the VAE sampling."""
    tf, keras = keras_layers.keras_modules(1)
    tf.config.experimental.enable_op_determinism()  # as the models' fit does
    rng = np.random.default_rng(0)
    if name != "deepsets":
        (X, y, _), _ = _data(600)
        Xs = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
        x, target = Xs, np.concatenate([Xs, np.eye(4, dtype=np.float32)[y]], axis=1)
        build = partial(autoencoders.build_joint_autoencoders, name, FAST[name], 5, 5 * epochs, 3)
    else:
        mask = (rng.random((290, 6)) < 0.7).astype(np.float32)
        x = (rng.normal(size=(290, 6, 5)).astype(np.float32) * mask[..., None], mask)
        target = rng.integers(0, 4, 290)
        build = partial(deepsets.build_deep_sets, FAST[name], 5, 3)

    def trained(via_batches: bool):
        keras.utils.set_random_seed(3)
        net = build()
        if via_batches:  # the helpers the models train and predict with
            keras_training.fit_arrays(net, x, target, 64, epochs, callbacks=[], seed=None)
            return net, keras_training.predict_arrays(net, x, 100)
        inputs = list(x) if isinstance(x, tuple) else x
        net.fit(inputs, target, batch_size=64, epochs=epochs, shuffle=False, verbose=0)
        return net, net.predict(inputs, batch_size=100, verbose=0)

    (net_a, pred_a), (net_b, pred_b) = trained(False), trained(True)
    for wa, wb in zip(net_a.get_weights(), net_b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(pred_a, pred_b)
    assert keras_training.batch_pipeline(x, batch_size=100).options().autotune.enabled is False
    assert len(keras_training.batch_pipeline(x, batch_size=100)) == -(
        -len(target) // 100
    )  # as for arrays


@pytest.mark.slow
def test_keras_training_reshuffles_every_epoch_and_repeats_with_the_seed():
    """Inside a real ``fit``, every epoch sees every sample once, in a new order, with the
    inputs of several-input models kept row-aligned; the same seed gives the same orders.
    (Keras's own ``shuffle=True`` after ``set_random_seed`` repeats one order every epoch.)"""
    tf, keras = keras_layers.keras_modules(1)
    n, batch, epochs = 10, 4, 4

    class Recorder(keras.Model):
        def train_step(self, data):
            (first, second), ids = data
            np.testing.assert_array_equal(np.asarray(second), 2 * np.asarray(first))
            seen.append(np.asarray(ids))
            return {"batches": len(seen)}

    def orders(seed):
        seen.clear()
        keras.utils.set_random_seed(7)  # as the models' fit does
        a, b = keras.Input((1,)), keras.Input((1,))
        net = Recorder([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
        net.compile(run_eagerly=True)
        first = np.arange(n, dtype=np.float64)[:, None]  # float64: cast like Keras's arrays
        keras_training.fit_arrays(
            net, (first, 2 * first), np.arange(n), batch, epochs, [], seed=seed
        )
        per_epoch = -(-n // batch)
        assert [len(b) for b in seen] == [4, 4, 2] * epochs
        return [np.concatenate(seen[e * per_epoch : (e + 1) * per_epoch]) for e in range(epochs)]

    seen: list[np.ndarray] = []
    shuffled = orders(seed=1)
    for order in shuffled:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    assert len({tuple(order) for order in shuffled}) == epochs  # a new order every epoch
    assert [tuple(o) for o in orders(seed=1)] == [tuple(o) for o in shuffled]
    assert [tuple(o) for o in orders(seed=2)] != [tuple(o) for o in shuffled]
    assert all(tuple(o) == tuple(range(n)) for o in orders(seed=None))
    predicted = keras_training.predict_arrays(
        keras.Sequential([keras.Input((1,)), keras.layers.Identity()]), np.arange(9.0)[:, None], 4
    )
    np.testing.assert_array_equal(predicted[:, 0], np.arange(9.0))  # predictions keep the order
    with pytest.raises(ValueError, match=r"differ in length: \[10, 10, 12\]"):
        keras_training.batch_pipeline(
            (np.zeros((10, 1)), np.zeros((10, 1))), np.zeros(12), 4, seed=1
        )


# Run in a fresh process: the cap must reach libraries that the model's first fit loads. The
# pools default to 4 threads there (environment), whatever the machine's cores.
_CAPPED_FIT = r"""
import json, sys
import numpy as np
from threadpoolctl import threadpool_info
from uhecr import models
from uhecr.models import autoencoders, deepsets, keras_layers, keras_training

name = sys.argv[1]
pools = lambda: sorted({p["num_threads"] for p in threadpool_info()})
rng = np.random.default_rng(0)
X, y = rng.normal(size=(400, 5)), np.arange(400) % 4
seen = []

def spy(frame, event, arg):  # the SVM reports nothing: look inside its Nystroem.fit call
    if event == "call" and frame.f_code.co_name == "fit" and frame.f_code.co_filename.endswith(
        "kernel_approximation.py"
    ):
        seen.append(pools())

params = {"svm": {"kernel": "rbf", "n_components": 20}, "xgboost": {"num_boost_round": 20}}
model = models.build(name, params[name], seed=1, threads=int(sys.argv[2]))
sys.setprofile(spy)
model.fit(X, y, X, y, report=lambda step, acc: seen.append(pools()))
sys.setprofile(None)
print(json.dumps({"inside": seen, "after": pools()}))
"""


@pytest.mark.parametrize("name", ["svm", "xgboost"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fit_caps_the_native_thread_pools_at_threads_from_the_first_fit(name, threads):
    """BLAS and OpenMP pools default to every core; a model runs them at its ``threads`` (two
    sweep workers on two cores would otherwise oversubscribe them), from the first fit of a
    process on, and restores them after."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4"}
    out = subprocess.run(
        [sys.executable, "-c", _CAPPED_FIT, name, str(threads)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert pools["inside"] and all(seen == [threads] for seen in pools["inside"]), pools
    assert max(pools["after"]) == 4, pools
    for cls in models.MODELS.values():
        for method in ("fit", "predict_proba"):
            assert hasattr(getattr(cls, method), "__wrapped__"), f"{cls.__name__}.{method}"


def test_the_registry_is_what_the_config_schema_and_the_bench_offer():
    """One list of models (``registry.MODEL_CLASSES``), each declaring its key, label, level and
    parameters with defaults: the config schema names exactly these models everywhere it names
    models, the benchmark offers them, and every parameter the default config sets is one the
    model declares, with a value of its default's type."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    schema_text = (root / "config" / "schema.yaml").read_text()
    enums = re.findall(r"enum: \[(svm[^\]]*)\]", schema_text)
    assert enums, "config/schema.yaml names no models"
    for enum in enums:
        assert [m.strip() for m in enum.split(",")] == list(models.MODELS)
    pattern = re.search(r'"\^\((svm[^)]*)\)\$"', schema_text)
    assert pattern and pattern[1].split("|") == list(models.MODELS)
    schema = yaml.safe_load(schema_text)
    assert schema["properties"]["models"]["required"][2:] == list(models.MODELS)
    bench = subprocess.run(
        [sys.executable, str(root / "bench" / "bench_search.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "{" + ",".join(models.MODELS) + "}" in bench.replace("\n", "").replace(" ", "")

    config = yaml.safe_load((root / "config" / "config.yaml").read_text())["models"]
    for name, cls in models.MODELS.items():
        assert (
            cls.name == name
            and cls.label == models.LABELS[name]
            and cls.level in ("station", "shower")
        )
        if cls.resource is not None:
            assert cls.resource == (cls.resource[0], cls.parameters[cls.resource[0]])
        for key, value in config[name].get("fixed", {}).items():
            default = cls.parameters[key]  # KeyError: a parameter the model does not declare
            kinds = (int, float) if isinstance(default, (int, float)) else type(default)
            if not isinstance(default, bool):
                assert isinstance(value, kinds) or (key == "encoding_dim"), (name, key, value)
