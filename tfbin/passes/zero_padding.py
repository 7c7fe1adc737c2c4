"""Export pass: zero padding around binary kernels larger than their input, computed from +-1 paddings.

Larq Compute Engine computes zero padding as +1 padding plus a correction
that goes wrong when a kernel sticks out on both sides; OpenVINO's binary
convolution has no zero padding at all. Both compute +1 and -1 padding
exactly, and zero padding is their mean.
"""
import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import export, graph
from tfbin.layers import same_padding
from tfbin.quantizers import ShiftedSign

__all__ = ["emulate"]

# The 1-bit input quantizers that are sign(x - threshold): padding the float
# input below the threshold gives -1 after them. Exact types: a subclass
# (IR-Net's ErrorDecaySign, say) may compute otherwise.
_SIGNS = (lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign, ShiftedSign)


def _wider_than_input(layer):
    """A binary 'same' convolution with zero padding whose (dilated) kernel is larger than its input.

    LCE computes zero padding as +1 padding plus a correction that assumes
    the kernel sticks out on one side at most (larq compute-engine,
    `zero_padding_correction.h`); when it sticks out on both, LCE's output
    is wrong (measured: 3x3 kernels with dilation 2 on 4x4 inputs).
    """
    if type(layer) is not lq.layers.QuantConv2D or layer.padding != "same" or layer.pad_values != 0:
        return False
    quantizer = layer.input_quantizer
    if type(quantizer) not in _SIGNS or not export.is_fully_binary(layer):
        return False
    if len(layer.inbound_nodes) != 1:
        return False
    sizes = layer.input_shape[1:3]
    extents = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
    return any(size is not None and extent > size for size, extent in zip(sizes, extents))


def emulate(model):
    """Replaces each `_wider_than_input` convolution by the mean of its +1- and -1-padded versions.

    Zero padding contributes nothing; +1 padding contributes the kernel taps
    that stick out, -1 padding their negative, so the mean of the two is the
    zero-padded convolution, and LCE computes both exactly: +1 padding is its
    native one, -1 padding is the float input padded below the sign's
    threshold before a 'valid' convolution.
    """
    wide = {id(layer) for layer in model.layers if _wider_than_input(layer)}
    if not wide:
        return model

    def replace(layer):
        if id(layer) not in wide:
            return None
        kernel = export.effective_kernel(layer).astype(np.float32) / 2
        bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
        threshold = getattr(layer.input_quantizer, "threshold", 0.0)
        common = dict(strides=layer.strides, dilation_rate=layer.dilation_rate, activation=None)
        plus = export.binary_conv(f"{layer.name}_pad_plus", kernel, bias, export.copy_quantizer(layer.input_quantizer),
                            padding="same", pad_values=1.0, **common)
        minus = export.binary_conv(f"{layer.name}_pad_minus", kernel, None, export.copy_quantizer(layer.input_quantizer),
                             padding="valid", **common)
        padding = [
            same_padding(size, k, s, d)
            for size, k, s, d in zip(layer.input_shape[1:3], layer.kernel_size, layer.strides, layer.dilation_rate)
        ]
        pad = export.ConstantPad(padding, threshold - 1.0, name=f"{layer.name}_pad")
        add = tf.keras.layers.Add(name=layer.name)
        activation = (
            tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
            if layer.activation is not tf.keras.activations.linear
            else None
        )

        def apply(inputs):
            y = add([plus(inputs), minus(pad(inputs))])
            return activation(y) if activation else y

        return apply

    return graph.rewrite(model, replace)
