"""The study's five station classifiers and two shower-level classifiers behind one interface.

Every model is built as ``build(name, params, seed, threads, features)`` and offers::

    fit(X_train, y_train, X_val=None, y_val=None, report=None, groups=None, groups_val=None)
    predict(X, groups=None) -> labels;  predict_proba(X, groups=None) -> (n, n_classes)
    score(X, y, groups=None) -> accuracy
    save(directory);  load(directory) -> the fitted model, predicting exactly as before

Rows are always stations (columns: ``features``, config ``models.features``); ``groups`` gives
each station's shower. Station-level models (``level = "station"``) ignore it. Shower-level
models (``level = "shower"``: Deep Sets over a shower's stations, XGBoost on engineered shower
features) classify each shower once and return its probabilities on every one of its stations;
their ``score`` is the accuracy per shower (one vote each), which is what their sweeps optimise.

``report(step, val_accuracy)`` is called when validation data is given, with ``step`` the training
resource used so far (the pruners' unit): epochs completed (neural networks, 1, 2, ...), blocks of
``report_every`` boosting rounds completed (XGBoost); the SVM, trained in one fit, reports
nothing (its validation accuracy is in ``history``). It may raise (e.g.
``optuna.TrialPruned``) to stop training. Search, evaluation
and reporting use only this interface.

Scalers are fitted on the training data only. Autoencoders classify by training one autoencoder
per class and choosing the class with the lowest reconstruction error (reference study,
Sec. 3.6.4); their ``predict_proba`` is a softmax of minus the raw errors over one common
temperature, so its most probable class is the lowest-error class. ``threads`` (the rule's
``threads:``) sets XGBoost's ``nthread`` and TensorFlow's intra/inter-op thread pools, and caps the
native BLAS and OpenMP pools (which default to every core) during ``fit`` and ``predict_proba``.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import math
import os
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

Reporter = Callable[[int, float], None] | None
N_CLASSES = 4


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def shower_codes(groups, n_rows: int, model: str) -> np.ndarray:
    """Shower index 0..n_showers-1 of every station (sorted shower order)."""
    if groups is None or len(groups) != n_rows:
        raise ValueError(
            f"{model} is a shower-level model: it needs the shower of every station (groups)"
        )
    return np.unique(np.asarray(groups), return_inverse=True)[1].ravel()


def first_station(codes: np.ndarray) -> np.ndarray:
    """Index of the first station of every shower (in shower order)."""
    return np.unique(codes, return_index=True)[1]


def shower_labels(y, codes: np.ndarray, model: str) -> np.ndarray:
    """One label per shower; stations of one shower with different labels are an error."""
    y = np.asarray(y)
    labels = y[first_station(codes)]
    if (labels[codes] != y).any():
        raise ValueError(f"{model}: stations of one shower carry different labels")
    return labels


def _thread_limited(method):
    """``method`` run with the native BLAS and OpenMP pools capped at the model's ``threads``.
    Snakemake starts a rule's jobs with ``OMP_NUM_THREADS`` etc. set to its threads; any other
    caller (a notebook, the MLflow pyfunc, the benchmarks, the tests) would get pools of every
    core (XGBoost's DMatrix, scikit-learn's and numpy's BLAS calls). The cap is process-wide:
    models used from several Python threads at once share it."""

    @functools.wraps(method)
    def limited(self, *args, **kwargs):
        from threadpoolctl import threadpool_limits

        for module in self.native_modules:  # the cap reaches only libraries already loaded
            importlib.import_module(module)
        with threadpool_limits(limits=self.threads):
            return method(self, *args, **kwargs)

    return limited


class Classifier:
    """Shared behaviour; subclasses implement ``fit`` and ``predict_proba``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("fit", "predict_proba"):
            if name in cls.__dict__:
                setattr(cls, name, _thread_limited(cls.__dict__[name]))

    name = "base"
    level = "station"
    # The parameter that sets how long a fit trains, and its default: its steps are what
    # ``report`` counts (the pruners' resource). None: one fit, no steps reported.
    resource: tuple[str, int] | None = None
    # Modules that load the native BLAS/OpenMP libraries the model uses: imported before the
    # thread cap of fit and predict_proba, which reaches only libraries already loaded.
    native_modules: tuple[str, ...] = ()

    @classmethod
    def steps(cls, amount: int) -> int:
        """The last step ``report`` reaches in a full fit of ``amount`` (epochs: one each)."""
        return int(amount)

    def __init__(self, params: dict, seed: int, threads: int = 1, features=None):
        self.params = dict(params)
        self.seed = int(seed)
        self.threads = max(1, int(threads))
        self.features = list(features) if features is not None else None
        self.history: list[dict] = []

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):  # pragma: no cover
        raise NotImplementedError

    def predict_proba(self, X, groups=None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def predict(self, X, groups=None) -> np.ndarray:
        return np.argmax(self.predict_proba(X, groups), axis=1)

    def refit_params(self) -> dict:
        """Parameters for refitting on train + validation without a validation set."""
        return dict(self.params)

    def score(self, X, y, groups=None) -> float:
        """Accuracy per station; per shower (one vote each) for shower-level models."""
        correct = self.predict(X, groups) == np.asarray(y)
        if self.level == "shower":
            correct = correct[first_station(shower_codes(groups, len(correct), self.name))]
        return float(np.mean(correct))

    def save(self, directory) -> None:
        """Write the fitted model to ``directory``: ``model.json`` (name, parameters, seed and
        what the model needs beyond its files) plus the model's own files; ``load`` reads it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = self._save_state(directory)
        meta = {
            "name": self.name,
            "params": self.params,
            "seed": self.seed,
            "features": self.features,
            "state": state,
        }
        (directory / "model.json").write_text(json.dumps(meta, indent=2))

    def _save_state(self, directory: Path) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _load_state(self, directory: Path, state: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _report(self, report: Reporter, step: int, X_val, y_val, groups_val=None, **extra) -> None:
        if X_val is None:
            return
        acc = self.score(X_val, y_val, groups_val)
        self.history.append({"step": step, "val_accuracy": acc, **extra})
        if report is not None:
            report(step, acc)


# --------------------------------------------------------------------------- SVM
class SVMClassifier(Classifier):
    """StandardScaler -> Nystroem kernel map (rbf/poly) -> LinearSVC; 'linear': no map."""

    name = "svm"
    native_modules = ("sklearn.kernel_approximation", "sklearn.svm", "scipy.linalg")

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        from sklearn.kernel_approximation import Nystroem
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        p = self.params
        steps = [StandardScaler()]
        kernel = p.get("kernel", "linear")
        if kernel != "linear":
            gamma = p.get("gamma", "scale")
            # sklearn's SVC definitions; after standard scaling X.var() is 1, so 'scale' and
            # 'auto' coincide (as in the reference study, which also standardised first).
            if gamma in ("scale", "auto"):
                gamma = 1.0 / X.shape[1]
            steps.append(
                Nystroem(
                    kernel=kernel,
                    gamma=gamma,
                    degree=p.get("degree", 3),
                    n_components=int(p.get("n_components", 100)),
                    random_state=self.seed,
                )
            )
        steps.append(
            LinearSVC(
                C=float(p.get("C", 1.0)),
                max_iter=int(p.get("max_iter", 2000)),
                random_state=self.seed,
            )
        )
        self.model = make_pipeline(*steps)
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(X, y)
        # Recorded, not reported: a pruner has nothing to save once the only fit is done (and
        # Hyperband would mark fully trained trials PRUNED at its first rung).
        self._report(None, 1, X_val, y_val)
        return self

    def predict_proba(self, X, groups=None):
        return _softmax(self.model.decision_function(X))

    def _save_state(self, directory):
        import skops.io

        skops.io.dump(self.model, directory / "pipeline.skops")  # no pickle: safe to load
        return {}

    def _load_state(self, directory, state):
        self.model = _load_skops(directory / "pipeline.skops")


# --------------------------------------------------------------------------- XGBoost
class XGBoostClassifier(Classifier):
    """Multi-class gradient boosting with early stopping on the validation error."""

    name = "xgboost"
    native_modules = ("xgboost",)
    report_every = 10
    resource = ("num_boost_round", 100)

    @classmethod
    def steps(cls, amount: int) -> int:
        return int(amount) // cls.report_every

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        import xgboost as xgb

        p = self.params
        n_rounds = int(p.get(*self.resource))
        booster_params = {
            "objective": "multi:softprob",
            "num_class": N_CLASSES,
            "eval_metric": "merror",
            "learning_rate": float(p.get("learning_rate", 0.3)),
            "max_depth": int(p.get("max_depth", 6)),
            "gamma": float(p.get("gamma", 0.0)),
            "min_child_weight": float(p.get("min_child_weight", 1.0)),
            "subsample": float(p.get("subsample", 1.0)),
            "tree_method": p.get("tree_method", "hist"),
            "device": p.get("device", "cpu"),
            "seed": self.seed,
            "nthread": self.threads,
        }
        dtrain = xgb.DMatrix(X, label=y, nthread=self.threads)
        callbacks, evals = [], []
        if X_val is not None:
            dval = xgb.DMatrix(X_val, label=y_val, nthread=self.threads)
            evals = [(dval, "validation")]
            # Reference study: patience = max(10, n_rounds // 10).
            callbacks.append(
                xgb.callback.EarlyStopping(rounds=max(10, n_rounds // 10), save_best=True)
            )
            callbacks.append(_xgb_reporter(self, report))
        self.booster = xgb.train(
            booster_params,
            dtrain,
            num_boost_round=n_rounds,
            evals=evals,
            callbacks=callbacks,
            verbose_eval=False,
        )
        return self

    def refit_params(self) -> dict:
        # Early stopping chose the number of rounds: keep it when refitting without validation.
        best = self.booster.attributes().get("best_iteration")
        if best is None:
            return dict(self.params)
        return {**self.params, "num_boost_round": int(best) + 1}

    def predict_proba(self, X, groups=None):
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(X, nthread=self.threads))

    def _save_state(self, directory):
        self.booster.save_model(directory / "booster.ubj")
        return {}

    def _load_state(self, directory, state):
        import xgboost as xgb

        self.booster = xgb.Booster(params={"nthread": self.threads})
        self.booster.load_model(directory / "booster.ubj")


def _load_skops(path: Path):
    """A scikit-learn object written by ``skops.io.dump``; any type skops does not trust by
    default (none for the pipelines written here) is refused rather than trusted blindly."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    if untrusted:
        raise ValueError(f"{path}: refusing to load untrusted types {untrusted}")
    return skops.io.load(path)


def _xgb_reporter(model: XGBoostClassifier, report: Reporter):
    """xgboost callback: report 1 - merror after every ``report_every`` rounds, the step being the
    number of such blocks completed (the pruners' resource)."""
    import xgboost as xgb

    class Reporter(xgb.callback.TrainingCallback):
        def after_iteration(self, booster, epoch, evals_log):
            rounds = epoch + 1
            if rounds % model.report_every == 0 and "validation" in evals_log:
                acc = 1.0 - evals_log["validation"]["merror"][-1]
                step = rounds // model.report_every
                model.history.append({"step": step, "val_accuracy": acc})
                if report is not None:
                    report(step, acc)
            return False

    return Reporter()


# --------------------------------------------------------------------------- autoencoders
def _keras(threads: int | None = None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if threads is not None:
        try:  # only possible before TensorFlow's runtime starts (once per process)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            log.debug("TensorFlow threads already fixed for this process")
    return tf, tf.keras


def _batches(x, y=None, batch_size: int = 32, seed: int | None = None):
    """In-memory arrays (a tuple for several inputs) as a tf.data pipeline of batches, sliced
    the way Keras's array pipeline slices them (one epoch's order as a vector, cut into batches,
    one gather per batch). With ``seed``, the order is a new permutation in every epoch (every
    pass over the dataset), the sequence of permutations fixed by the seed: Keras's own
    ``fit(x, y, shuffle=True)`` repeats one order in every epoch once
    ``keras.utils.set_random_seed`` is called (its ``tf.random.shuffle`` is re-created with the
    same seed for each pass, tensorflow/tensorflow#35682).

    tf.data's autotuning is off: its background thread slowed each fit by about 15 % with every
    core busy (parallel sweep workers; two processes ran the same fit 1.72-1.78 x as fast as one
    with it, 1.93-2.03 x without: bench/bench_search.py's parallel_ceiling). The length is
    declared: without it Keras runs one extra, empty training call per epoch to find the end,
    which still advances the optimizer's step count (Adam's bias correction, schedules)."""
    tf, keras = _keras()
    floatx = keras.config.floatx()

    def tensor(a):
        a = np.asarray(a)
        return tf.constant(a.astype(floatx) if a.dtype.kind == "f" else a)

    data = tf.nest.map_structure(tensor, (x,) if y is None else (x, y))
    lengths = [int(a.shape[0]) for a in tf.nest.flatten(data)]
    if len(set(lengths)) != 1:
        raise ValueError(f"inputs and targets differ in length: {lengths} samples")
    n = lengths[0]
    n_full, rest = divmod(n, batch_size)

    def batch_indices(order):  # one epoch's order -> its batches of indices
        full = tf.reshape(order[: n_full * batch_size], [n_full, batch_size])
        batches = tf.data.Dataset.from_tensor_slices(full)
        if rest:
            batches = batches.concatenate(
                tf.data.Dataset.from_tensors(order[n_full * batch_size :])
            )
        return batches

    if seed is None:
        orders = tf.data.Dataset.from_tensors(tf.range(n, dtype=tf.int64))
    else:  # one new random seed per pass, drawn from a stream that ``seed`` fixes
        orders = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            .take(1)
            .map(
                lambda s: tf.random.experimental.stateless_shuffle(
                    tf.range(n, dtype=tf.int64), seed=tf.stack([s, tf.constant(0, tf.int64)])
                )
            )
        )
    options = tf.data.Options()
    options.autotune.enabled = False
    # The arrays enter as a dataset, not captured by the map function: a captured copy stayed
    # in memory until Python's cycle collector ran (every validation predict made one).
    arrays = tf.data.Dataset.from_tensors(data).repeat()
    batches = tf.data.Dataset.zip(orders.flat_map(batch_indices), arrays).map(
        lambda i, d: tf.nest.map_structure(lambda a: tf.gather(a, i), d)
    )
    known_length = tf.data.experimental.assert_cardinality(n_full + (rest > 0))
    return batches.apply(known_length).with_options(options)


def _fit(net, x, y, batch_size: int, epochs: int, callbacks, seed: int | None) -> None:
    """``net.fit`` on in-memory arrays (a tuple for several inputs), reshuffled every epoch
    from ``seed`` (None: in the given order)."""
    batches = _batches(x, y, batch_size, seed=seed)
    # shuffle=False: _batches shuffles (Keras's default True would warn for a dataset).
    net.fit(batches, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def _predict(net, x, batch_size: int) -> np.ndarray:
    """``net.predict`` on in-memory arrays (a tuple for several inputs), via ``_batches``."""
    return net.predict(_batches(x, batch_size=batch_size), verbose=0)


def _one_cycle(max_lr: float, total_steps: int):
    """OneCycle (Smith 2018): linear warm-up to max_lr over 30 %, cosine down to max_lr/1e4."""
    tf, keras = _keras()

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warm = max(1.0, 0.3 * total_steps)
            lo = max_lr / 25.0
            up = lo + (max_lr - lo) * step / warm
            frac = tf.clip_by_value((step - warm) / max(1.0, total_steps - warm), 0.0, 1.0)
            down = max_lr / 1e4 + (max_lr - max_lr / 1e4) * 0.5 * (1 + tf.cos(math.pi * frac))
            return tf.where(step < warm, up, down)

        def get_config(self):
            return {"max_lr": max_lr, "total_steps": total_steps}

    return OneCycle()


def _build_branch(kind: str, p: dict, n_features: int, inputs, layers_ns, keras, seed: int):
    """One class's autoencoder on ``inputs``; returns (reconstruction, kl) tensors."""
    layers = keras.layers
    act = p.get("activation", "relu")
    if kind == "vae":
        hidden = int(p.get("encoding_dim", 8))
        latent = int(p.get("latent_dim", 2))
        h = layers.Dense(hidden, activation=act)(inputs)
        mu = layers.Dense(latent)(h)
        log_var = layers.Dense(latent)(h)
        z, kl = layers_ns.VAESampling(seed=seed)([mu, log_var])
        out = layers.Dense(n_features, activation="sigmoid")(
            layers.Dense(hidden, activation=act)(z)
        )
        return out, kl
    sizes = p.get("encoding_dim", 8)
    sizes = [int(sizes)] if np.isscalar(sizes) else [int(v) for v in sizes]
    constraint = keras.constraints.UnitNorm(axis=0) if p.get("unit_norm_constraint") else None
    reg = (
        layers_ns.Orthogonality(float(p.get("orthogonality_weight", 1.0)))
        if p.get("weight_orthogonality")
        else None
    )
    x = layers.Dropout(float(p.get("ps", 0.0)), seed=seed)(inputs)  # denoising: input dropout
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
        if p.get("tied_weights"):
            x = layers_ns.DenseTied(dense, activation)(x)
        else:
            x = layers.Dense(width, activation=activation)(x)
    return x, None


def _build_joint_autoencoders(kind: str, p: dict, n_features: int, n_steps: int, seed: int):
    """The per-class autoencoders as one Keras model (one ``fit`` for all of them).

    Output: (batch, n_classes, n_features + 1), reconstructions plus the VAE's KL term. The loss
    picks each sample's own-class branch, so every branch is trained only on its class's samples,
    as separate autoencoders would be; branches share no weights.
    """
    tf, keras = _keras()
    layers_ns = _keras_layers()
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

    lr = float(p.get("lr", 1e-3))
    schedule = _one_cycle(lr, n_steps) if p.get("one_cycle") else lr
    if p.get("optimizer", "adam").lower() == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _epoch_callback(name: str, after_epoch: Callable[[int, float], None]):
    """Keras callback: a non-finite training loss stops training with an error; otherwise
    ``after_epoch(epochs_completed, loss)`` (validation accuracy, pruning reports; 1-based so
    that every model reports the training resource used, as the pruners expect)."""
    _, keras = _keras()

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("loss", np.nan))
            if not np.isfinite(loss):
                raise FloatingPointError(f"{name}: non-finite training loss at epoch {epoch + 1}")
            after_epoch(epoch + 1, loss)

    return EpochEnd()


@functools.cache
def _keras_layers():
    """Custom Keras layers, defined once TensorFlow is imported (it is imported lazily)."""
    tf, keras = _keras()

    class DenseTied(keras.layers.Layer):
        """Decoder layer sharing (transposed) the kernel of an encoder layer."""

        def __init__(self, tied, activation, **kw):
            super().__init__(**kw)
            self.tied = tied
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            self.bias = self.add_weight(
                shape=(self.tied.kernel.shape[0],), initializer="zeros", name="bias"
            )

        def call(self, x):
            return self.activation(tf.matmul(x, self.tied.kernel, transpose_b=True) + self.bias)

    class Orthogonality(keras.regularizers.Regularizer):
        """weight * ||W^T W - I||_F, the study's Listing 7.5 penalty."""

        def __init__(self, weight):
            self.weight = weight

        def __call__(self, w):
            gram = tf.matmul(w, w, transpose_a=True) - tf.eye(tf.shape(w)[1])
            return self.weight * tf.sqrt(tf.reduce_sum(tf.square(gram)) + 1e-12)

        def get_config(self):
            return {"weight": self.weight}

    class VAESampling(keras.layers.Layer):
        """z = mu + exp(log_var / 2) eps while training, z = mu otherwise; also returns the KL."""

        def __init__(self, seed=0, **kw):
            super().__init__(**kw)
            self.seed_gen = keras.random.SeedGenerator(seed)

        def call(self, inputs, training=None):
            mu, log_var = inputs
            kl = -0.5 * tf.reduce_sum(
                1 + log_var - tf.square(mu) - tf.exp(log_var), axis=-1, keepdims=True
            )
            if training:
                eps = keras.random.normal(tf.shape(mu), seed=self.seed_gen)
                return mu + tf.exp(0.5 * log_var) * eps, kl
            return mu, kl

    class Zeros(keras.layers.Layer):
        def call(self, x):
            return tf.zeros_like(x[:, :1])

    class Concat(keras.layers.Layer):
        def call(self, xs):
            return tf.concat(xs, axis=-1)

    class Stack(keras.layers.Layer):
        def call(self, xs):
            return tf.stack(xs, axis=1)

    class MaskedPool(keras.layers.Layer):
        """Pool per-station vectors over the real stations (mask 1) only; log(n) appended."""

        def __init__(self, mode="mean_max", **kw):
            super().__init__(**kw)
            if mode not in ("mean", "sum", "max", "mean_max"):
                raise ValueError(f"deepsets: unknown pooling {mode!r}")
            self.mode = mode

        def call(self, inputs):
            h, mask = inputs
            m = tf.expand_dims(mask, -1)
            n = tf.reduce_sum(m, axis=1)
            total = tf.reduce_sum(h * m, axis=1)
            parts = []
            if self.mode in ("mean", "mean_max"):
                parts.append(total / tf.maximum(n, 1.0))
            if self.mode == "sum":
                parts.append(total)
            if self.mode in ("max", "mean_max"):
                parts.append(tf.reduce_max(tf.where(m > 0, h, tf.fill(tf.shape(h), -1e9)), 1))
            parts.append(tf.math.log(tf.maximum(n, 1.0)))
            return tf.concat(parts, axis=-1)

        def get_config(self):
            return {**super().get_config(), "mode": self.mode}

    return types.SimpleNamespace(
        MaskedPool=MaskedPool,
        DenseTied=DenseTied,
        Orthogonality=Orthogonality,
        VAESampling=VAESampling,
        Zeros=Zeros,
        Concat=Concat,
        Stack=Stack,
    )


class PerClassAutoencoder(Classifier):
    """One autoencoder per class; a sample belongs to the class that reconstructs it best."""

    kind = "dae"
    resource = ("epochs", 10)
    native_modules = ("sklearn.preprocessing",)

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        from sklearn.preprocessing import MinMaxScaler

        tf, keras = _keras(self.threads)
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        p = self.params
        epochs = int(p.get(*self.resource))
        batch = int(p.get("batch_size", 256))
        if set(np.unique(y)) != set(range(N_CLASSES)):
            raise ValueError(f"{self.name}: training data must contain all {N_CLASSES} classes")
        self.scaler = MinMaxScaler().fit(X)  # one scaler, fitted on train only, for all classes
        Xs = self._scale_inputs(X)
        self.model = _build_joint_autoencoders(
            self.kind, p, X.shape[1], math.ceil(len(Xs) / batch) * epochs, self.seed
        )
        target = np.concatenate([Xs, np.eye(N_CLASSES, dtype=np.float32)[y]], axis=1)

        def after_epoch(epoch, loss):
            self._report(report, epoch, X_val, y_val, train_loss=loss)

        _fit(
            self.model,
            Xs,
            target,
            batch,
            epochs,
            [_epoch_callback(self.name, after_epoch)],
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
        _keras(self.threads)
        self.scaler = _load_skops(directory / "scaler.skops")
        # The same architecture, then its weights (the training schedule plays no part).
        self.model = _build_joint_autoencoders(
            self.kind, self.params, state["n_features"], 1, self.seed
        )
        import warnings

        with warnings.catch_warnings():  # the saved optimizer state is not needed to predict
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            self.model.load_weights(directory / "autoencoders.weights.h5")
        self._temperature = float(state["temperature"])

    def _scale_inputs(self, X):
        return np.clip(self.scaler.transform(X), 0.0, 1.0).astype(np.float32)

    def _errors(self, Xs):
        out = _predict(self.model, Xs, 8192)[:, :, : Xs.shape[1]]
        return np.mean((out - Xs[:, None, :]) ** 2, axis=2)

    def reconstruction_errors(self, X):
        return self._errors(self._scale_inputs(X))

    def predict(self, X, groups=None):
        """The study's rule: the class whose autoencoder reconstructs the sample best."""
        return np.argmin(self.reconstruction_errors(X), axis=1)

    def predict_proba(self, X, groups=None):
        """Softmax of the negative raw errors over one common temperature (same ranking)."""
        return _softmax(-self.reconstruction_errors(X) / self._temperature)


class DenoisingAutoencoder(PerClassAutoencoder):
    """Autoencoder v1: input dropout, one code layer, optional tied/unit-norm/orthogonal weights."""

    name, kind = "dae", "dae"


class StackedAutoencoder(PerClassAutoencoder):
    """Autoencoder v2: stacked denoising layers (``encoding_dim`` list), optional OneCycle."""

    name, kind = "sdae", "sdae"


class VariationalAutoencoder(PerClassAutoencoder):
    """VAE: one hidden layer each side, ``latent_dim`` Gaussian code, sigmoid output."""

    name, kind = "vae", "vae"


# --------------------------------------------------------------------------- shower level
class ShowerFeatureXGBoost(Classifier):
    """XGBoost on engineered shower features (``uhecr.features.shower_features``: lateral
    distribution and rise-time slopes, S(1000) vs energy, multiplicity, ...), one row per shower;
    the same boosting, early stopping and reporting as the station XGBoost."""

    name = "xgboost_shower"
    native_modules = ("xgboost",)
    level = "shower"
    resource = XGBoostClassifier.resource
    steps = XGBoostClassifier.steps

    def _showers(self, X, groups):
        from uhecr.features import shower_features

        if self.features is None:
            raise ValueError(f"{self.name} needs the feature names (config key models.features)")
        codes = shower_codes(groups, len(X), self.name)
        return shower_features(np.asarray(X), self.features, codes), codes

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        F, codes = self._showers(X, groups)
        y_s = shower_labels(y, codes, self.name)
        F_val = y_val_s = None
        if X_val is not None:
            F_val, codes_val = self._showers(X_val, groups_val)
            y_val_s = shower_labels(y_val, codes_val, self.name)
        self.inner = XGBoostClassifier(self.params, self.seed, self.threads)
        self.inner.fit(F, y_s, F_val, y_val_s, report=report)
        self.history = self.inner.history
        return self

    def refit_params(self) -> dict:
        return self.inner.refit_params()

    def predict_proba(self, X, groups=None):
        F, codes = self._showers(X, groups)
        return self.inner.predict_proba(F)[codes]

    def _save_state(self, directory):
        return self.inner._save_state(directory)

    def _load_state(self, directory, state):
        self.inner = XGBoostClassifier(self.params, self.seed, self.threads)
        self.inner._load_state(directory, state)


def pad_showers(X: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_showers, max_stations, n_features) zero-padded stations and the (n_showers,
    max_stations) mask of real ones; stations keep their order within a shower."""
    n = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(codes)) - np.repeat(starts, counts)
    padded = np.zeros((n, int(counts.max()), X.shape[1]), dtype=np.float32)
    mask = np.zeros((n, int(counts.max())), dtype=np.float32)
    padded[codes[order], position] = X[order]
    mask[codes[order], position] = 1.0
    return padded, mask


def _build_deep_sets(p: dict, n_features: int, seed: int):
    """phi (per station) -> masked pooling -> rho (per shower) -> softmax over the classes.

    Pooling is over the real stations only (the mask), so the output does not depend on the
    stations' order or on the padding; the shower's number of stations enters rho as
    log(n)."""
    tf, keras = _keras()
    layers_ns = _keras_layers()
    layers = keras.layers
    act = p.get("activation", "relu")
    stations = keras.Input(shape=(None, n_features))
    mask = keras.Input(shape=(None,))
    h = stations
    for _ in range(int(p.get("phi_layers", 2))):
        h = layers.Dense(int(p.get("phi_units", 32)), activation=act)(h)
    pooled = layers_ns.MaskedPool(p.get("pooling", "mean_max"))([h, mask])
    z = layers.Dropout(float(p.get("dropout", 0.0)), seed=seed)(pooled)
    for _ in range(int(p.get("rho_layers", 1))):
        z = layers.Dense(int(p.get("rho_units", 32)), activation=act)(z)
    out = layers.Dense(N_CLASSES, activation="softmax")(z)
    model = keras.Model([stations, mask], out)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(p.get("lr", 1e-3))),
        loss="sparse_categorical_crossentropy",
    )
    return model


class DeepSetsClassifier(Classifier):
    """Deep Sets (Zaheer et al. 2017) over all stations of a shower: a per-station network on
    the station features (incl. core distance and zeta), permutation-invariant masked pooling,
    a shower-level head; showers of any number of stations."""

    name = "deepsets"
    native_modules = ("sklearn.preprocessing",)
    level = "shower"
    resource = ("epochs", 20)

    def _inputs(self, X, groups):
        codes = shower_codes(groups, len(X), self.name)
        scaled = self.scaler.transform(np.asarray(X, dtype=np.float64)).astype(np.float32)
        return pad_showers(scaled, codes), codes

    def fit(
        self, X, y, X_val=None, y_val=None, report: Reporter = None, groups=None, groups_val=None
    ):
        from sklearn.preprocessing import StandardScaler

        tf, keras = _keras(self.threads)
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()
        self.scaler = StandardScaler().fit(np.asarray(X, dtype=np.float64))
        (padded, mask), codes = self._inputs(X, groups)
        y_s = shower_labels(y, codes, self.name)
        val = None
        if X_val is not None:
            (pv, mv), codes_val = self._inputs(X_val, groups_val)
            val = (pv, mv, shower_labels(y_val, codes_val, self.name))
        self.model = _build_deep_sets(self.params, padded.shape[2], self.seed)

        def after_epoch(epoch, loss):
            if val is None:
                return
            proba = _predict(self.model, (val[0], val[1]), 4096)
            acc = float(np.mean(proba.argmax(axis=1) == val[2]))
            self.history.append({"step": epoch, "val_accuracy": acc, "train_loss": loss})
            if report is not None:
                report(epoch, acc)

        _fit(
            self.model,
            (padded, mask),
            y_s,
            int(self.params.get("batch_size", 64)),
            int(self.params.get(*self.resource)),
            [_epoch_callback(self.name, after_epoch)],
            seed=self.seed,
        )
        return self

    def predict_proba(self, X, groups=None):
        (padded, mask), codes = self._inputs(X, groups)
        proba = _predict(self.model, (padded, mask), 4096)
        return np.asarray(proba, dtype=np.float64)[codes]

    def _save_state(self, directory):
        import skops.io

        skops.io.dump(self.scaler, directory / "scaler.skops")
        self.model.save_weights(directory / "deep_sets.weights.h5")
        return {"n_features": int(self.scaler.n_features_in_)}

    def _load_state(self, directory, state):
        import warnings

        _keras(self.threads)
        self.scaler = _load_skops(directory / "scaler.skops")
        self.model = _build_deep_sets(self.params, state["n_features"], self.seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            self.model.load_weights(directory / "deep_sets.weights.h5")


LABELS = {
    "svm": "SVM",
    "xgboost": "XGBoost",
    "dae": "Autoencoder V1",
    "sdae": "Autoencoder V2",
    "vae": "VAE",
    "deepsets": "Deep Sets (shower)",
    "xgboost_shower": "XGBoost (shower features)",
}

# Every parameter a model reads (search space or fixed): anything else in config is a typo.
_AUTOENCODER_PARAMS = {
    "encoding_dim", "ps", "lr", "activation", "tied_weights", "unit_norm_constraint",
    "weight_orthogonality", "orthogonality_weight", "one_cycle", "optimizer", "epochs",
    "batch_size",
}  # fmt: skip
PARAMETERS: dict[str, set[str]] = {
    "svm": {"C", "kernel", "gamma", "degree", "n_components", "max_iter"},
    "xgboost": {
        "num_boost_round",
        "learning_rate",
        "max_depth",
        "gamma",
        "min_child_weight",
        "subsample",
        "tree_method",
        "device",
    },  # fmt: skip
    "dae": _AUTOENCODER_PARAMS,
    "sdae": _AUTOENCODER_PARAMS,
    # The VAE has no input dropout and no tied, unit-norm or orthogonal weights.
    "vae": {
        "encoding_dim",
        "latent_dim",
        "lr",
        "activation",
        "one_cycle",
        "optimizer",
        "epochs",
        "batch_size",
    },  # fmt: skip
}

PARAMETERS["xgboost_shower"] = PARAMETERS["xgboost"]
PARAMETERS["deepsets"] = {
    "phi_units", "phi_layers", "rho_units", "rho_layers", "pooling", "activation", "dropout",
    "lr", "epochs", "batch_size",
}  # fmt: skip

MODELS: dict[str, type[Classifier]] = {
    "svm": SVMClassifier,
    "xgboost": XGBoostClassifier,
    "dae": DenoisingAutoencoder,
    "sdae": StackedAutoencoder,
    "vae": VariationalAutoencoder,
    "deepsets": DeepSetsClassifier,
    "xgboost_shower": ShowerFeatureXGBoost,
}


def build(name: str, params: dict, seed: int, threads: int = 1, features=None) -> Classifier:
    """Model ``name``; ``features``: the names of X's columns (shower-level models need them)."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (config key models); known: {sorted(MODELS)}")
    return MODELS[name](params, seed, threads, features)


def load(directory, threads: int = 1) -> Classifier:
    """A model written by ``Classifier.save``."""
    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text())
    model = build(meta["name"], meta["params"], meta["seed"], threads, meta.get("features"))
    model._load_state(directory, meta["state"])
    return model
