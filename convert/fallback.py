"""Which binary layers LCE runs as float operators, and why.

Every larq or tfbin layer with a 1-bit input or kernel quantizer (or a
+-scale kernel behind a 1-bit input quantizer, as `strip_pruning` makes
them) counts as binary. Larq Compute Engine runs only one kind of them as a
binary operator: a 2D convolution with a binarized input and a kernel of
exactly +-scale per output channel becomes an `LceBconv2d`. Anything else
silently stays float (a dense layer becomes FULLY_CONNECTED, a depthwise
convolution DEPTHWISE_CONV_2D, a kernel with a zero in it CONV_2D): correct,
but slow and 32 times larger. This module lists the binary layers of a
(stripped) Keras model, says in advance why those LCE cannot binarize will
run as float and what to do instead, and finds each remaining one's filter
among the flatbuffer's `LceBconv2d`s.

```python
import tfbin
import larq_compute_engine as lce
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

from tfbin.cost import flatten_layers, is_binary_layer, is_one_bit
from tfbin.export import effective_kernel

__all__ = ["BinaryLayer", "binary_layers", "binary_parts", "kernel_signature", "unmatched"]

# LCE packs input channels 32 to a word; a grouped binary convolution needs whole words per group.
_CHANNELS_PER_WORD = 32


@dataclasses.dataclass
class BinaryLayer:
    name: str
    kind: str  # the layer's class name
    kernel: np.ndarray | None  # (out, kh, kw, in): the kernel LCE sees; None when LCE cannot binarize the layer
    problem: str | None  # why LCE will not run it as a binary op, when that can be told in advance
    remedy: str | None = None  # what to do instead

    @property
    def reason(self):
        """The problem and what to do about it, in one sentence for messages and reports."""
        text = self.problem or "LCE kept it as a float convolution"
        return f"{text}; instead, {self.remedy}" if self.remedy else text


_QUANTIZERS = {
    "input_quantizer": "input",
    "kernel_quantizer": "kernel",
    "depthwise_quantizer": "depthwise kernel",
    "pointwise_quantizer": "pointwise kernel",
}


def binary_parts(layer):
    """The 1-bit parts of a layer ("input", "kernel", "depthwise kernel", ...); empty for a float layer.

    A kernel is 1-bit through a 1-bit quantizer, or by its values (+-scale per
    output channel) behind a 1-bit input quantizer, as a stripped model has it.
    """
    parts = [part for attribute, part in _QUANTIZERS.items() if is_one_bit(getattr(layer, attribute, None))]
    if parts == ["input"] and is_binary_layer(layer):
        parts.append("kernel")
    return parts


_FLOAT_ADVICE = "make it a float layer (no quantizers), or pass allow_float_fallback=True to accept it as float"

# Layers LCE has no binary operator for: (problem, remedy).
_NO_BINARY_OP = {
    lq.layers.QuantDepthwiseConv2D: (
        "LCE has no binary depthwise convolution (a grouped binary convolution needs a multiple of 32 input "
        "channels per group, and a depthwise one has 1), so it runs as a float DEPTHWISE_CONV_2D",
        f"{_FLOAT_ADVICE}, or use a grouped binary QuantConv2D with a multiple of 32 input channels per group",
    ),
    lq.layers.QuantSeparableConv2D: (
        "LCE has no binary separable convolution (its depthwise part cannot be binary and its pointwise part "
        "reads the depthwise part's float output), so it runs as float convolutions",
        f"{_FLOAT_ADVICE}, or split it into a float DepthwiseConv2D and a binary 1x1 QuantConv2D",
    ),
    lq.layers.QuantConv2DTranspose: (
        "LCE has no binary transposed convolution, so it runs as a float TRANSPOSE_CONV",
        f"{_FLOAT_ADVICE}, or upsample (UpSampling2D) before a binary QuantConv2D",
    ),
    lq.layers.QuantConv3D: (
        "LCE has no binary 3D convolution, so it runs as a float CONV_3D",
        _FLOAT_ADVICE,
    ),
    lq.layers.QuantDense: (
        "LCE has no binary dense layer (tfbin exports a QuantDense as a 1x1 binary convolution only when both "
        "its input and its kernel are binary and at most one inner dimension of its input is unknown), so it "
        "runs as a float FULLY_CONNECTED",
        f"binarize both its input and its kernel (input_quantizer and kernel_quantizer 'ste_sign'), or {_FLOAT_ADVICE}",
    ),
    lq.layers.QuantConv1D: (
        "LCE has no binary 1D convolution (tfbin exports a QuantConv1D as a binary 2D convolution only when "
        "both its input and its kernel are binary and its padding is not causal), so it runs as float",
        f"binarize both its input and its kernel, or {_FLOAT_ADVICE}",
    ),
}


def _conv2d_problem(layer, parts):
    """(problem, remedy) for a 2D convolution that LCE will not binarize, known before converting."""
    if "input" not in parts:
        return (
            "its input is not binarized (LCE binarizes a convolution only when its input quantizer is a 1-bit "
            "sign), so it runs as a float CONV_2D with 32-bit weights",
            f"give it input_quantizer='ste_sign' (and pad_values=1.0 with 'same' padding), or {_FLOAT_ADVICE}",
        )
    if "kernel" not in parts:
        return (
            "its kernel is not binary (neither a 1-bit kernel quantizer nor +-scale per output channel), so it "
            "runs as a float CONV_2D",
            f"give it kernel_quantizer='ste_sign', or {_FLOAT_ADVICE}",
        )
    per_group = layer.kernel.shape[-2]
    if layer.groups > 1 and per_group % _CHANNELS_PER_WORD:
        return (
            f"it is a grouped binary convolution with {per_group} input channels per group, and LCE needs a "
            f"multiple of {_CHANNELS_PER_WORD}, so it runs as a float CONV_2D",
            f"choose groups so that each has a multiple of {_CHANNELS_PER_WORD} input channels, or {_FLOAT_ADVICE}",
        )
    return None


def _kernel_problem(kernel):
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


def _classify(layer, parts):
    kind = type(layer).__name__
    if isinstance(layer, lq.layers.QuantConv2D) and not isinstance(layer, lq.layers.QuantConv2DTranspose):
        known = _conv2d_problem(layer, parts)
        if known:
            return BinaryLayer(layer.name, kind, None, *known)
        kernel = np.moveaxis(effective_kernel(layer), -1, 0)
        return BinaryLayer(layer.name, kind, kernel, _kernel_problem(kernel))
    for cls, (problem, remedy) in _NO_BINARY_OP.items():
        if isinstance(layer, cls):
            return BinaryLayer(layer.name, kind, None, problem, remedy)
    return BinaryLayer(
        layer.name, kind, None, f"LCE has no binary version of {kind}, so it runs as float", _FLOAT_ADVICE
    )


def binary_layers(model):
    """Every layer with a 1-bit part (`binary_parts`), in model order, as `BinaryLayer`s.

    Those LCE can binarize (2D convolutions with 1-bit input and kernel) carry
    their kernel, to be matched against the flatbuffer's filters; the others
    carry why they will run as float and what to do instead.
    """
    found = []
    for layer in flatten_layers(model):
        parts = binary_parts(layer)
        if parts:
            found.append(_classify(layer, parts))
    return found


def kernel_signature(kernel):
    """The sign pattern of an (out, ...) kernel up to one sign per output channel.

    LCE folds a negative channel scale into its output multiplier and flips
    that channel's bits, and OpenVINO's frontend folds a negative BatchNorm
    scale into the kernel, so patterns are compared with each channel's first
    nonzero entry made positive.
    """
    flat = np.sign(kernel).reshape(len(kernel), -1)
    first = flat[np.arange(len(flat)), np.argmax(flat != 0, axis=1)]
    canonical = flat * np.where(first == 0, 1, first)[:, None]
    return kernel.shape, canonical.astype(np.int8).tobytes()


def unmatched(layers, filters):
    """The binary layers that are not an `LceBconv2d` among `filters`, the decoded filters.

    Returns (layer name, reason) pairs: layers LCE cannot binarize (known in
    advance), then those whose +-1 pattern is not among `filters`, because
    LCE kept them as float convolutions or because their `LceBconv2d` holds
    other bits than the Keras kernel. Layers with the same pattern are
    matched as a group.
    """
    available = collections.Counter(kernel_signature(f) for f in filters)
    missing = []
    for layer in layers:
        if layer.kernel is None:
            missing.append((layer.name, layer.reason))
            continue
        signature = kernel_signature(layer.kernel)
        if available[signature] > 0:
            available[signature] -= 1
        else:
            missing.append((layer.name, layer.reason))
    return missing
