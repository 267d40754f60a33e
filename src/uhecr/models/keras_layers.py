"""TensorFlow/Keras, imported lazily with the rule's thread count, and the custom layers the
networks use (tied decoder weights, the orthogonality penalty, VAE sampling, masked pooling)."""

from __future__ import annotations

import functools
import logging
import os
import types

log = logging.getLogger(__name__)


def keras_modules(threads: int | None = None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if threads is not None:
        try:  # only possible before TensorFlow's runtime starts (once per process)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            log.debug("TensorFlow threads already fixed for this process")
    return tf, tf.keras


@functools.cache
def custom_layers():
    """Custom Keras layers, defined once TensorFlow is imported (it is imported lazily)."""
    tf, keras = keras_modules()

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
