"""Which binary layers LCE kept as float convolutions.

Larq Compute Engine makes an `LceBconv2d` only of a convolution with a
binarized input and a kernel of exactly +-scale per output channel. Anything
else (a pruned weight left as zero, a kernel whose magnitudes differ within a
channel) silently stays a float `CONV_2D`: correct, but slow and large. This
module lists the binary layers of a (stripped) Keras model, finds each one's
filter among the flatbuffer's `LceBconv2d`s and names the ones it cannot find.

```python
import larq_compute_engine as lce
import tfbin
from tfbin import zoo
from tfbin.convert import fallback, flatbuffer

model = zoo.digits_resnet(width=8)
tflite = lce.convert_keras_model(model)
layers = fallback.binary_layers(model)             # [BinaryLayer(name=..., ...), ...]
fallback.unmatched(layers, flatbuffer.binary_filters(tflite))   # [] when all became LceBconv2d
```
"""
import collections
import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin.cost import flatten_layers, is_binary_layer

__all__ = ["BinaryLayer", "binary_layers", "unmatched"]


@dataclasses.dataclass
class BinaryLayer:
    name: str
    kernel: np.ndarray  # (out, kh, kw, in): the kernel LCE sees, output channels first
    problem: str | None  # why LCE will not binarize it, when that can be told in advance


def _signature(kernel):
    """The sign pattern of an (out, ...) kernel up to one sign per output channel.

    LCE folds a negative channel scale into its output multiplier and flips
    that channel's bits, so patterns are compared with each channel's first
    nonzero entry made positive.
    """
    flat = np.sign(kernel).reshape(len(kernel), -1)
    first = flat[np.arange(len(flat)), np.argmax(flat != 0, axis=1)]
    canonical = flat * np.where(first == 0, 1, first)[:, None]
    return kernel.shape, canonical.astype(np.int8).tobytes()


def _effective_kernel(layer):
    latent = tf.keras.backend.get_value(getattr(layer.kernel, "latent_variable", layer.kernel))
    if layer.kernel_quantizer is None:
        return latent
    return tf.keras.backend.get_value(layer.kernel_quantizer(tf.constant(latent)))


def _problem(kernel):
    """Why a kernel is not +-scale per output channel, or None when it is."""
    zeros = int(np.sum(kernel == 0))
    if zeros:
        return (
            f"its kernel has {zeros} zero weight(s); LCE binarizes only kernels of +-scale per output "
            "channel, so pruned weights must be removed, not zeroed"
        )
    magnitudes = np.abs(kernel).reshape(len(kernel), -1)
    if not np.allclose(magnitudes, magnitudes[:, :1], rtol=1e-6, atol=0):
        return "its kernel's magnitudes differ within an output channel (not +-scale per channel)"
    return None


def binary_layers(model):
    """The layers that are 1-bit in both input and kernel, in model order.

    That is a larq `QuantConv2D` whose input quantizer is a sign and whose
    kernel is binarized by its quantizer or is +-scale per output channel
    (zeros allowed: they are the pruned weights that make LCE fall back).
    """
    found = []
    for layer in flatten_layers(model):
        if isinstance(layer, lq.layers.QuantConv2D) and is_binary_layer(layer):
            kernel = np.moveaxis(_effective_kernel(layer), -1, 0)
            found.append(BinaryLayer(layer.name, kernel, _problem(kernel)))
    return found


def unmatched(layers, filters):
    """The binary layers whose +-1 pattern is not among `filters`, the decoded `LceBconv2d` filters.

    Returns (layer name, reason) pairs. A layer is unmatched because LCE kept
    it as a float convolution, or because its `LceBconv2d` holds other bits
    than the Keras kernel. Layers with the same pattern (the stripped
    convolutions of one weight base) are matched as a group.
    """
    available = collections.Counter(_signature(f) for f in filters)
    missing = []
    for layer in layers:
        signature = _signature(layer.kernel)
        if available[signature] > 0:
            available[signature] -= 1
        else:
            missing.append((layer.name, layer.problem or "LCE kept it as a float convolution"))
    return missing
