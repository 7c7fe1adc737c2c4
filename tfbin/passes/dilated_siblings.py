"""Export pass: dilated binary convolutions that read one tensor with the same settings become one.

Larq Compute Engine turns a dilated convolution into a binary one only when
no other convolution reads the same SpaceToBatchND (TensorFlow's
dilated-convolution rewrite requires a single user, and identical
SpaceToBatchND ops are merged first). Two such layers side by side become one
convolution whose output channels are sliced apart (`tfbin.export.ChannelSlice`).
"""
import json

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import export, graph

__all__ = ["merge"]


def _quantizer_key(quantizer):
    """A quantizer's class and settings, without its (unique) name."""
    if not hasattr(quantizer, "get_config"):
        return getattr(quantizer, "__name__", repr(quantizer))
    config = {k: v for k, v in quantizer.get_config().items() if k != "name"}
    return type(quantizer).__name__, json.dumps(config, sort_keys=True, default=str)


def _sibling_key(layer):
    """What must agree for two binary convolutions reading one tensor to be merged into one."""
    if type(layer) is not lq.layers.QuantConv2D or max(layer.dilation_rate) == 1:
        return None
    if not export.is_fully_binary(layer) or len(layer.inbound_nodes) != 1:
        return None
    settings = (
        tuple(layer.kernel_size), tuple(layer.strides), layer.padding, float(layer.pad_values),
        tuple(layer.dilation_rate), layer.groups, layer.data_format,
        tf.keras.activations.serialize(layer.activation),
        _quantizer_key(layer.input_quantizer),
    )
    return id(layer.input), settings


def _groups(model):
    groups = {}
    for layer in model.layers:
        key = _sibling_key(layer)
        if key is not None:
            groups.setdefault(key, []).append(layer)
    return [members for members in groups.values() if len(members) > 1]


def _merge(model, siblings):
    member_of = {id(layer): members for members in siblings for layer in members}
    merged_outputs = {}

    def replace(layer):
        members = member_of.get(id(layer))
        if members is None:
            return None
        first = members[0]
        kernels = [export.effective_kernel(member).astype(np.float32) for member in members]
        begin = sum(k.shape[-1] for k in kernels[: members.index(layer)])
        size = kernels[members.index(layer)].shape[-1]
        use_bias = any(member.use_bias for member in members)

        def apply(inputs):
            if id(first) not in merged_outputs:
                bias = None
                if use_bias:
                    bias = np.concatenate([
                        tf.keras.backend.get_value(m.bias) if m.use_bias else np.zeros(k.shape[-1], np.float32)
                        for m, k in zip(members, kernels)
                    ]).astype(np.float32)
                conv = export.binary_conv(
                    f"{first.name}_shared_input", np.concatenate(kernels, axis=-1), bias,
                    export.copy_quantizer(first.input_quantizer), strides=first.strides, padding=first.padding,
                    pad_values=first.pad_values, dilation_rate=first.dilation_rate, activation=first.activation,
                )
                merged_outputs[id(first)] = conv(inputs)
            return export.ChannelSlice(begin, size, name=layer.name)(merged_outputs[id(first)])

        return apply

    return graph.rewrite(model, replace)




def merge(model):
    """`model` with the dilated binary convolutions that read one tensor with the same settings merged."""
    siblings = _groups(model)
    return _merge(model, siblings) if siblings else model
