"""How far float rounding alone moves a binary model's outputs: the parity floor.

A deep binary net is chaotic at the level of float rounding: an activation
that sits within rounding error of its sign threshold flips when the same
arithmetic runs in another order, and each flip can flip more downstream.
LCE folds scales and BatchNorm into its binary convolutions and so computes
every pre-activation in another order than Keras. On a ResNet-18-shaped BNN
(measured, random inputs) that moves the Keras outputs themselves by a 90th
percentile relative error of 0.1 to 0.3 when 1e-5 of noise is added before
each binary layer, while a wrong conversion (a flipped output scale, a
shifted bias) moves them by 1.5 to 8.

`rounding_floor` measures that for any model: it runs the Keras model with
additive noise of `epsilon` times the input's RMS before every binary layer,
a generous model of reordered float32 arithmetic, and returns the parity of
the noisy against the clean outputs (the worst of a few noise draws).

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert.rounding import rounding_floor

model = zoo.digits_resnet(width=8)
x = data.digits_arrays().x_test[:64]
floor = rounding_floor(model, x)     # a tfbin.convert.parity.Parity
floor.p90_rel_error                  # ~1e-7 for shallow nets, ~0.3 for ResNet-18 BNNs
```
"""
import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin.cost import is_one_bit
from tfbin.convert.parity import keras_predict, measure_parity
from tfbin.graph import rewrite

__all__ = ["ROUNDING_EPSILON", "rounding_floor"]

# Relative size of the noise: float32's epsilon is 1.2e-7, and folding scales
# into other terms loses a few more digits where large terms cancel.
ROUNDING_EPSILON = 1e-5


class _RoundingNoise(tf.keras.layers.Layer):
    """x + epsilon * rms(x) * u with u uniform in [-1, 1], reproducible per draw.

    `draw` is a variable that the noisy copy's layers share: setting it picks
    the noise of another draw without building the copy again.
    """

    def __init__(self, epsilon, index, draw, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.index = index
        self.draw = draw

    def call(self, inputs):
        seed = tf.stack([self.draw * 10_000 + self.index, tf.constant(0, tf.int64)])
        noise = tf.random.stateless_uniform(tf.shape(inputs), seed=seed, minval=-1.0, maxval=1.0)
        rms = tf.sqrt(tf.reduce_mean(tf.square(inputs)))
        return inputs + self.epsilon * rms * noise


def _noisy_copy(model, epsilon, draw):
    """`model` with `_RoundingNoise` before each binary layer, all reading the int64 variable `draw`."""
    count = [0]

    def replace(layer):
        if not isinstance(layer, lq.layers.QuantConv2D) or not is_one_bit(layer.input_quantizer):
            return None
        count[0] += 1
        noise = _RoundingNoise(epsilon, count[0], draw, name=f"{layer.name}_rounding")
        clone, weights = layer.__class__.from_config(layer.get_config()), layer.get_weights()

        def apply(inputs):
            outputs = clone(noise(inputs))
            clone.set_weights(weights)
            return outputs

        return apply

    return rewrite(model, replace)


def rounding_floor(model, x, reference=None, epsilon=ROUNDING_EPSILON, draws=3, seed=0):
    """Parity of `model` with rounding-level noise before its binary layers against `model` itself.

    The worst of `draws` noise draws (least agreement, largest errors): a
    flip cascade hits only a few samples, so one draw often misses it.
    `reference` is `model`'s output on `x` when already computed. The noisy
    copy is built once (rebuilding a deep model costs far more than running
    it) and runs once per draw.
    """
    x = np.asarray(x, np.float32)
    if reference is None:
        reference = keras_predict(model, x)
    draw = tf.Variable(seed, dtype=tf.int64, trainable=False, name="rounding_draw")
    noisy = _noisy_copy(model, epsilon, draw)
    floors = []
    for n in range(draws):
        draw.assign(seed + n)
        floors.append(measure_parity(reference, keras_predict(noisy, x)))
    return dataclasses.replace(
        floors[0],
        max_abs_diff=max(f.max_abs_diff for f in floors),
        argmax_agreement=min(f.argmax_agreement for f in floors),
        median_rel_error=max(f.median_rel_error for f in floors),
        p90_rel_error=max(f.p90_rel_error for f in floors),
    )
