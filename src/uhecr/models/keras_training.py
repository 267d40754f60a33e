"""Training and prediction of Keras networks on in-memory arrays, reproducibly: the batch
pipeline, the OneCycle schedule and the end-of-epoch callback every network uses."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from uhecr.models.keras_layers import keras_modules


def seeded_keras(threads: int, seed: int):
    """TensorFlow and Keras with the rule's thread pools, every random generator seeded from
    ``seed`` and deterministic kernels: the start of every network's ``fit``."""
    tf, keras = keras_modules(threads)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def batch_pipeline(x, y=None, batch_size: int = 32, seed: int | None = None):
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
    tf, keras = keras_modules()
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


def fit_arrays(net, x, y, batch_size: int, epochs: int, callbacks, seed: int | None) -> None:
    """``net.fit`` on in-memory arrays (a tuple for several inputs), reshuffled every epoch
    from ``seed`` (None: in the given order)."""
    pipeline = batch_pipeline(x, y, batch_size, seed=seed)
    # shuffle=False: batch_pipeline shuffles (Keras's default True would warn for a dataset).
    net.fit(pipeline, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def predict_arrays(net, x, batch_size: int) -> np.ndarray:
    """``net.predict`` on in-memory arrays (a tuple for several inputs), via ``batch_pipeline``."""
    return net.predict(batch_pipeline(x, batch_size=batch_size), verbose=0)


def one_cycle(max_lr: float, total_steps: int):
    """OneCycle (Smith 2018): linear warm-up to max_lr over 30 %, cosine down to max_lr/1e4."""
    tf, keras = keras_modules()

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


def epoch_callback(name: str, after_epoch: Callable[[int, float], None]):
    """Keras callback: a non-finite training loss stops training with an error; otherwise
    ``after_epoch(epochs_completed, loss)`` (validation accuracy, pruning reports; 1-based so
    that every model reports the training resource used, as the pruners expect)."""
    _, keras = keras_modules()

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("loss", np.nan))
            if not np.isfinite(loss):
                raise FloatingPointError(f"{name}: non-finite training loss at epoch {epoch + 1}")
            after_epoch(epoch + 1, loss)

    return EpochEnd()
