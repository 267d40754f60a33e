"""Deep Sets (Zaheer et al. 2017) over all stations of a shower: the shower-level network."""

from __future__ import annotations

import numpy as np

from uhecr.models.base import Classifier, Reporter, capped_threads, load_skops
from uhecr.models.keras_layers import custom_layers, keras_modules
from uhecr.models.keras_training import epoch_callback, fit_arrays, predict_arrays, seeded_keras
from uhecr.showers import N_CLASSES, pad_showers, shower_codes, shower_labels


def build_deep_sets(params: dict, n_features: int, seed: int):
    """phi (per station) -> masked pooling -> rho (per shower) -> softmax over the classes.

    Pooling is over the real stations only (the mask), so the output does not depend on the
    stations' order or on the padding; the shower's number of stations enters rho as
    log(n)."""
    p = {**DeepSetsClassifier.parameters, **params}
    tf, keras = keras_modules()
    layers_ns = custom_layers()
    layers = keras.layers
    act = p["activation"]
    stations = keras.Input(shape=(None, n_features))
    mask = keras.Input(shape=(None,))
    h = stations
    for _ in range(int(p["phi_layers"])):
        h = layers.Dense(int(p["phi_units"]), activation=act)(h)
    pooled = layers_ns.MaskedPool(p["pooling"])([h, mask])
    z = layers.Dropout(float(p["dropout"]), seed=seed)(pooled)
    for _ in range(int(p["rho_layers"])):
        z = layers.Dense(int(p["rho_units"]), activation=act)(z)
    out = layers.Dense(N_CLASSES, activation="softmax")(z)
    model = keras.Model([stations, mask], out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(p["lr"])),
        loss="sparse_categorical_crossentropy",
    )
    return model


class DeepSetsClassifier(Classifier):
    """Deep Sets (Zaheer et al. 2017) over all stations of a shower: a per-station network on
    the station features (incl. core distance and zeta), permutation-invariant masked pooling,
    a shower-level head; showers of any number of stations."""

    name = "deepsets"
    label = "Deep Sets (shower)"
    parameters = {
        "phi_units": 32,
        "phi_layers": 2,
        "rho_units": 32,
        "rho_layers": 1,
        "pooling": "mean_max",  # mean, sum, max or mean_max
        "activation": "relu",
        "dropout": 0.0,
        "lr": 1e-3,
        "epochs": 20,
        "batch_size": 64,
    }
    native_modules = ("sklearn.preprocessing",)
    level = "shower"
    resource = ("epochs", parameters["epochs"])

    def _inputs(self, X, groups):
        codes = shower_codes(groups, len(X), self.name)
        scaled = self.scaler.transform(np.asarray(X, dtype=np.float64)).astype(np.float32)
        return pad_showers(scaled, codes), codes

    @capped_threads
    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        from sklearn.preprocessing import StandardScaler

        seeded_keras(self.threads, self.seed)
        self.scaler = StandardScaler().fit(np.asarray(X, dtype=np.float64))
        (padded, mask), codes = self._inputs(X, groups)
        y_s = shower_labels(y, codes, self.name)
        val = None
        if X_val is not None:
            (pv, mv), codes_val = self._inputs(X_val, groups_val)
            val = (pv, mv, shower_labels(y_val, codes_val, self.name))
        self.model = build_deep_sets(self.params, padded.shape[2], self.seed)

        def after_epoch(epoch, loss):
            if val is None:
                return
            # The padded validation showers are built once, not in every epoch (as ``score``
            # would): the accuracy per shower is the same.
            proba = predict_arrays(self.model, (val[0], val[1]), 4096)
            accuracy = float(np.mean(proba.argmax(axis=1) == val[2]))
            self._record(report, epoch, accuracy, train_loss=loss)

        fit_arrays(
            self.model,
            (padded, mask),
            y_s,
            int(self.param("batch_size")),
            int(self.param("epochs")),
            [epoch_callback(self.name, after_epoch)],
            seed=self.seed,
        )
        return self

    @capped_threads
    def predict_proba(self, X, groups=None):
        (padded, mask), codes = self._inputs(X, groups)
        proba = predict_arrays(self.model, (padded, mask), 4096)
        return np.asarray(proba, dtype=np.float64)[codes]

    def _save_state(self, directory):
        import skops.io

        skops.io.dump(self.scaler, directory / "scaler.skops")
        self.model.save_weights(directory / "deep_sets.weights.h5")
        return {"n_features": int(self.scaler.n_features_in_)}

    def _load_state(self, directory, state):
        import warnings

        keras_modules(self.threads)
        self.scaler = load_skops(directory / "scaler.skops")
        self.model = build_deep_sets(self.params, state["n_features"], self.seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            self.model.load_weights(directory / "deep_sets.weights.h5")
