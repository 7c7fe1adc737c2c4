"""Helpers for testing and benchmarking models built with tfbin.

A freshly built binary net has BatchNorm with zero mean, unit variance, unit
scale and zero shift, and multi-base scales of one: its binary convolutions
sum integers that land exactly on sign thresholds, and any other float order
(LCE's, for one) flips those ties (see `tfbin.convert.parity`). Trained nets
do not sit on ties. `realistic_weights` gives an untrained model BatchNorm and
multi-base scales with random trained-like values and sets the moving
statistics from a forward pass over sample inputs, as training would, so that
its parity and latency figures mean something.

```python
import numpy as np
import tfbin
from tfbin import zoo
from tfbin.testing import realistic_weights

model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
x = np.random.default_rng(0).standard_normal((64, 8, 8, 1)).astype("float32")
realistic_weights(model, x, seed=0)   # in place; returns the model
```
"""
import numpy as np
import tensorflow as tf

from tfbin import batchnorm
from tfbin.layers import MultiBaseConv2D
from tfbin.reactnet import ChannelScale, LearnableBias, RPReLU, RSign

__all__ = ["realistic_weights"]


def _uniform(rng, variable, low=0.5, high=1.5):
    variable.assign(rng.uniform(low, high, variable.shape).astype(np.float32))


def _normal(rng, variable, scale=0.3):
    variable.assign(rng.normal(0.0, scale, variable.shape).astype(np.float32))


def realistic_weights(model, x, seed=0):
    """Randomises BatchNorm gamma/beta, scales and shifts, then sets moving statistics from `x`.

    Scales: multi-base alphas, betas and gammas, `tfbin.reactnet.ChannelScale`;
    shifts: `RSign`, `LearnableBias` and `RPReLU` (with its slopes).
    """
    rng = np.random.default_rng(seed)
    layers = list(model.submodules)
    norms = [layer for layer in layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in layers:
        if isinstance(layer, MultiBaseConv2D):
            for name in ("alpha", "beta", "gamma"):
                if hasattr(layer, name):
                    _uniform(rng, getattr(layer, name))
        elif isinstance(layer, ChannelScale):
            _uniform(rng, layer.scale)
        elif isinstance(layer, (LearnableBias, RSign)):
            _normal(rng, layer.bias)
        elif isinstance(layer, RPReLU):
            _normal(rng, layer.shift_in)
            _uniform(rng, layer.alpha, 0.0, 0.5)
            _normal(rng, layer.shift_out)
    for layer in norms:
        if layer.scale:
            _uniform(rng, layer.gamma)
        if layer.center:
            _normal(rng, layer.beta)
    # The moving statistics become the batch statistics of `x`, layer by layer,
    # as after training on such data.
    x = np.asarray(x, np.float32)
    batchnorm.reestimate_statistics(model, x, batches=1, batch_size=max(2, len(x)))
    return model
