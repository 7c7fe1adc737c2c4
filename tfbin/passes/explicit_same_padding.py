"""Export pass for OpenVINO: a float "same" convolution that reads a ZeroPadding layer pads explicitly.

OpenVINO's PadFusion (run by `openvino.convert_model`, 2026.4) folds a zero
Pad into the convolution that reads it and keeps only the Pad's amounts,
dropping the convolution's own "same" padding (measured: ZeroPadding2D
((1, 0), (0, 1)) then a 3x3 "same" Conv2D on 9x9 gave 8x8 instead of 10x10).
The same padding as a second ZeroPadding layer before a "valid" convolution
computes the same and survives the fusion. Binary convolutions are not
concerned: their sign sits between the padding and the convolution.
"""
import tensorflow as tf

from tfbin import graph
from tfbin.layers import same_padding

__all__ = ["make_explicit"]

_ZERO_PADDINGS = (tf.keras.layers.ZeroPadding1D, tf.keras.layers.ZeroPadding2D, tf.keras.layers.ZeroPadding3D)
_TRANSPOSED = (tf.keras.layers.Conv1DTranspose, tf.keras.layers.Conv2DTranspose, tf.keras.layers.Conv3DTranspose)


def _is_float_same_conv(layer):
    return (hasattr(layer, "kernel_size") and getattr(layer, "padding", None) == "same"
            and not isinstance(layer, _TRANSPOSED) and getattr(layer, "input_quantizer", None) is None
            and not getattr(layer, "pad_values", 0.0))


def _same_pads(layer):
    """The (begin, end) zero padding per spatial axis that `layer`'s padding="same" adds to its input."""
    rank = len(layer.kernel_size)
    shape = layer.input_shape
    sizes = shape[1 : 1 + rank] if getattr(layer, "data_format", "channels_last") == "channels_last" else shape[2:]
    pads = tuple(same_padding(*axis) for axis in zip(sizes, layer.kernel_size, layer.strides, layer.dilation_rate))
    return pads[0] if rank == 1 else pads


def make_explicit(model):
    """`model`, each float "same" convolution that reads a ZeroPadding layer now a ZeroPadding and a "valid" one."""
    pads = {}
    for layer in model.layers:
        if isinstance(layer, _ZERO_PADDINGS):
            for consumer in graph.consumers(layer) or []:
                if _is_float_same_conv(consumer):
                    pads[consumer.name] = _same_pads(consumer)
    if not pads:
        return model

    def replace(layer):
        if layer.name not in pads:
            return None
        padding = _ZERO_PADDINGS[len(layer.kernel_size) - 1](pads[layer.name], name=f"{layer.name}_same_padding")
        conv = layer.__class__.from_config({**layer.get_config(), "padding": "valid"})

        def apply(inputs):
            outputs = conv(padding(inputs))
            conv.set_weights(layer.get_weights())
            return outputs

        return apply

    return graph.rewrite(model, replace)
