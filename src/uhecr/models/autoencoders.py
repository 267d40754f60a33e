"""The study's autoencoder classifiers: one autoencoder per class, trained jointly as one Keras
model; a sample belongs to the class whose autoencoder reconstructs it best (reference study,
Sec. 3.6.4). V1 (``dae``): denoising, one code layer; V2 (``sdae``): stacked denoising layers;
``vae``: variational."""

from __future__ import annotations

import math

import numpy as np

from uhecr.models.base import Classifier, Reporter, capped_threads, load_skops, softmax
from uhecr.models.keras_layers import custom_layers, keras_modules
from uhecr.models.keras_training import (
    epoch_callback,
    fit_arrays,
    one_cycle,
    predict_arrays,
    seeded_keras,
)
from uhecr.showers import N_CLASSES

AUTOENCODER_PARAMETERS = {
    "encoding_dim": 8,  # an int, or a list of ints for stacked layers (sdae)
    "ps": 0.0,  # input dropout (denoising)
    "lr": 1e-3,
    "activation": "relu",
    "tied_weights": False,
    "unit_norm_constraint": False,
    "weight_orthogonality": False,
    "orthogonality_weight": 1.0,
    "one_cycle": False,
    "optimizer": "adam",
    "epochs": 10,
    "batch_size": 256,
}
# The VAE has no input dropout and no tied, unit-norm or orthogonal weights.
VAE_PARAMETERS = {
    "encoding_dim": 8,
    "latent_dim": 2,
    "lr": 1e-3,
    "activation": "relu",
    "one_cycle": False,
    "optimizer": "adam",
    "epochs": 10,
    "batch_size": 256,
}
MODEL_PARAMETERS = {
    "dae": AUTOENCODER_PARAMETERS,
    "sdae": AUTOENCODER_PARAMETERS,
    "vae": VAE_PARAMETERS,
}


def _build_branch(kind: str, p: dict, n_features: int, inputs, layers_ns, keras, seed: int):
    """One class's autoencoder on ``inputs``; returns (reconstruction, kl) tensors. ``p``: every
    parameter of the model (its declared defaults filled in)."""
    layers = keras.layers
    act = p["activation"]
    if kind == "vae":
        hidden = int(p["encoding_dim"])
        latent = int(p["latent_dim"])
        h = layers.Dense(hidden, activation=act)(inputs)
        mu = layers.Dense(latent)(h)
        log_var = layers.Dense(latent)(h)
        z, kl = layers_ns.VAESampling(seed=seed)([mu, log_var])
        out = layers.Dense(n_features, activation="sigmoid")(
            layers.Dense(hidden, activation=act)(z)
        )
        return out, kl
    sizes = p["encoding_dim"]
    sizes = [int(sizes)] if np.isscalar(sizes) else [int(v) for v in sizes]
    constraint = keras.constraints.UnitNorm(axis=0) if p["unit_norm_constraint"] else None
    reg = (
        layers_ns.Orthogonality(float(p["orthogonality_weight"]))
        if p["weight_orthogonality"]
        else None
    )
    x = layers.Dropout(float(p["ps"]), seed=seed)(inputs)  # denoising: input dropout
    encoders = []
    for units in sizes:
        dense = layers.Dense(
            units, activation=act, kernel_constraint=constraint, kernel_regularizer=reg
        )
        x = dense(x)
        encoders.append(dense)
    widths = [n_features, *sizes[:-1]]
    for i, (dense, width) in enumerate(zip(reversed(encoders), reversed(widths), strict=True)):
        activation = "linear" if i == len(encoders) - 1 else act
        if p["tied_weights"]:
            x = layers_ns.DenseTied(dense, activation)(x)
        else:
            x = layers.Dense(width, activation=activation)(x)
    return x, None


def build_joint_autoencoders(kind: str, params: dict, n_features: int, n_steps: int, seed: int):
    """The per-class autoencoders as one Keras model (one ``fit`` for all of them).

    Output: (batch, n_classes, n_features + 1), reconstructions plus the VAE's KL term. The loss
    picks each sample's own-class branch, so every branch is trained only on its class's samples,
    as separate autoencoders would be; branches share no weights.
    """
    p = {**MODEL_PARAMETERS[kind], **params}
    tf, keras = keras_modules()
    layers_ns = custom_layers()
    inputs = keras.Input(shape=(n_features,))
    outs = []
    for c in range(N_CLASSES):
        recon, kl = _build_branch(kind, p, n_features, inputs, layers_ns, keras, seed + c)
        kl = kl if kl is not None else layers_ns.Zeros()(recon)
        outs.append(layers_ns.Concat()([recon, kl]))
    model = keras.Model(inputs, layers_ns.Stack()(outs))
    recon_scale = float(n_features) if kind == "vae" else 1.0  # study's VAE loss: mse * input_dim

    def loss(y_true, y_pred):
        x, onehot = y_true[:, :n_features], y_true[:, n_features:]
        mse = tf.reduce_mean(tf.square(y_pred[:, :, :n_features] - x[:, None, :]), axis=-1)
        per_class = mse * recon_scale + y_pred[:, :, n_features]
        return tf.reduce_sum(per_class * onehot, axis=-1)

    lr = float(p["lr"])
    schedule = one_cycle(lr, n_steps) if p["one_cycle"] else lr
    if p["optimizer"].lower() == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model.compile(optimizer=optimizer, loss=loss)
    return model


class PerClassAutoencoder(Classifier):
    """One autoencoder per class; a sample belongs to the class that reconstructs it best."""

    native_modules = ("sklearn.preprocessing",)

    @capped_threads
    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        from sklearn.preprocessing import MinMaxScaler

        seeded_keras(self.threads, self.seed)
        epochs = int(self.param("epochs"))
        batch = int(self.param("batch_size"))
        if set(np.unique(y)) != set(range(N_CLASSES)):
            raise ValueError(f"{self.name}: training data must contain all {N_CLASSES} classes")
        self.scaler = MinMaxScaler().fit(X)  # one scaler, fitted on train only, for all classes
        Xs = self._scale_inputs(X)
        self.model = build_joint_autoencoders(
            self.name, self.params, X.shape[1], math.ceil(len(Xs) / batch) * epochs, self.seed
        )
        target = np.concatenate([Xs, np.eye(N_CLASSES, dtype=np.float32)[y]], axis=1)

        def after_epoch(epoch, loss):
            self._report(report, epoch, X_val, y_val, train_loss=loss)

        fit_arrays(
            self.model,
            Xs,
            target,
            batch,
            epochs,
            [epoch_callback(self.name, after_epoch)],
            seed=self.seed,
        )
        train_err = self._errors(Xs)
        # One temperature for all classes (the mean own-class training error), so that
        # argmax(predict_proba) == argmin(raw error) == predict: one decision rule for both.
        self._temperature = float(train_err[np.arange(len(y)), y].mean()) + 1e-12
        return self

    def _save_state(self, directory):
        import skops.io

        skops.io.dump(self.scaler, directory / "scaler.skops")
        self.model.save_weights(directory / "autoencoders.weights.h5")
        return {"n_features": int(self.scaler.n_features_in_), "temperature": self._temperature}

    def _load_state(self, directory, state):
        keras_modules(self.threads)
        self.scaler = load_skops(directory / "scaler.skops")
        # The same architecture, then its weights (the training schedule plays no part).
        self.model = build_joint_autoencoders(
            self.name, self.params, state["n_features"], 1, self.seed
        )
        import warnings

        with warnings.catch_warnings():  # the saved optimizer state is not needed to predict
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            self.model.load_weights(directory / "autoencoders.weights.h5")
        self._temperature = float(state["temperature"])

    def _scale_inputs(self, X):
        return np.clip(self.scaler.transform(X), 0.0, 1.0).astype(np.float32)

    def _errors(self, Xs):
        out = predict_arrays(self.model, Xs, 8192)[:, :, : Xs.shape[1]]
        return np.mean((out - Xs[:, None, :]) ** 2, axis=2)

    def reconstruction_errors(self, X):
        return self._errors(self._scale_inputs(X))

    def predict(self, X, groups=None):
        """The study's rule: the class whose autoencoder reconstructs the sample best."""
        return np.argmin(self.reconstruction_errors(X), axis=1)

    @capped_threads
    def predict_proba(self, X, groups=None):
        """Softmax of the negative raw errors over one common temperature (same ranking)."""
        return softmax(-self.reconstruction_errors(X) / self._temperature)


class DenoisingAutoencoder(PerClassAutoencoder):
    """Autoencoder v1: input dropout, one code layer, optional tied/unit-norm/orthogonal weights."""

    name = "dae"
    label = "Autoencoder V1"
    parameters = AUTOENCODER_PARAMETERS
    resource = ("epochs", parameters["epochs"])


class StackedAutoencoder(PerClassAutoencoder):
    """Autoencoder v2: stacked denoising layers (``encoding_dim`` list), optional OneCycle."""

    name = "sdae"
    label = "Autoencoder V2"
    parameters = AUTOENCODER_PARAMETERS
    resource = ("epochs", parameters["epochs"])


class VariationalAutoencoder(PerClassAutoencoder):
    """VAE: one hidden layer each side, ``latent_dim`` Gaussian code, sigmoid output."""

    name = "vae"
    label = "VAE"
    parameters = VAE_PARAMETERS
    resource = ("epochs", parameters["epochs"])
