"""Keras -> OpenVINO for x86 CPUs: binary convolutions as `BinaryConvolution`, faithful or refused.

Larq Compute Engine's fast binary kernels are for ARM; on x86 it runs
portable ones. OpenVINO's CPU plugin has XNOR-popcount kernels for SSE4.1,
AVX2 and AVX-512 behind its `BinaryConvolution` op, but no frontend emits
that op, so this module builds the OpenVINO graph itself from the model that
`tfbin.pruning.strip_pruning` exports:

- a binary larq `QuantConv2D` (sign input, kernel +-scale per output
  channel) becomes FakeQuantize (levels 2: the sign as one bit) ->
  BinaryConvolution (weights bit-packed in a `u1` constant) -> per-channel
  multiply (the kernel's scale) and add (its bias), with a BatchNormalization
  that alone reads it folded into that multiply and add;
- a multi-base layer, which `strip_pruning` turns into one `QuantConv2D` per
  live (m, n) binary convolution plus an `Add`, becomes one BinaryConvolution
  per live pair and the sum;
- float layers (Conv2D, DepthwiseConv2D, Dense, pooling, activations, adds,
  concatenation, flatten, reshape, padding) become the matching OpenVINO ops,
  a BatchNormalization after a float convolution folded into its kernel.

Anything else (a binary Dense, a grouped binary convolution, a kernel with
zeros inside a channel, an unknown layer) raises `ConversionError` naming the
layer: nothing runs as float that Keras computes in binary. The result is
then checked against Keras on calibration data with the same parity rules
as the LCE converter (`tfbin.convert.parity`, `tfbin.convert.rounding`).

What was checked against float references (tests/test_openvino.py): the
weights are 0/1 bits packed least significant bit first (`np.packbits(...,
bitorder="little")`) into a `u1` tensor wrapped in a Constant op (building
the constant from an array with `dtype=u1` packs another way and computes
garbage); input and weight bit 0 means -1 and 1 means +1; `pad_value` is in
the +-1 domain (1.0 pads with +1, -1.0 with -1, 0.0 adds nothing, as larq's
`pad_values` do); FakeQuantize with levels 2 maps x <= its threshold to 0, so
the threshold is the float32 just below larq's, whose sign maps ties to +1.

OpenVINO is an optional dependency (`pip install "tfbin[openvino]"`); its
maintainers call BinaryConvolution obsolete, so the version is pinned and
`require_openvino` refuses an installation without the op.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import convert_openvino

x = data.digits_arrays().x_test[:64]
result = convert_openvino(zoo.digits_resnet(width=8), calibration_data=x)
result.census["BinaryConvolution"], result.parity.argmax_agreement
result.save("model.xml")          # and model.bin beside it
```
"""
import dataclasses
import functools

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import export, graph
from tfbin.convert.converter import ConversionError, _calibration_inputs, judge_parity
from tfbin.convert.fallback import binary_layers
from tfbin.convert.openvino_runtime import (
    SavedAsIR,
    bits_constant,
    compile_openvino,
    ir_census,
    kernels,
    openvino_predict,
    require_openvino,
)
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT
from tfbin.cost import is_binary_layer
from tfbin.layers import MultiBaseConv2D
from tfbin.pruning import strip_pruning

__all__ = ["OpenVinoConversion", "check_openvino_parity", "convert_openvino", "flat_outputs", "to_openvino"]


def _output(value):
    """An op's (first) output; outputs pass through."""
    return value.output(0) if hasattr(value, "get_output_size") else value


def _refuse(layer, reason):
    raise ConversionError(f"layer {layer.name} ({type(layer).__name__}): {reason}")


class _Builder:
    """Translates one stripped Keras model; values are OpenVINO outputs, 4-D ones in NCHW."""

    def __init__(self, ov, model):
        from openvino import opset13

        self.ov, self.ops, self.model = ov, opset13, model
        self.folds = {}  # id(convolution) -> the BatchNormalization folded into it
        self.folded = set()  # ids of the folded BatchNormalizations
        self.binary = 0

    # small helpers
    def const(self, array, dtype=np.float32):
        return self.ops.constant(np.array(array, dtype=dtype))  # a copy, 0-d stays 0-d

    def rank(self, value):
        return _output(value).get_partial_shape().rank.get_length()

    def nchw(self, value):
        return self.ops.transpose(value, self.const([0, 3, 1, 2], np.int64))

    def nhwc(self, value):
        return self.ops.transpose(value, self.const([0, 2, 3, 1], np.int64))

    def channel_axis(self, value):
        return 1 if self.rank(value) == 4 else self.rank(value) - 1

    def per_channel(self, value, vector):
        """`vector` shaped to broadcast along the channel axis of `value`."""
        vector = np.asarray(vector, np.float32).reshape(-1)
        shape = (1, -1, 1, 1) if self.rank(value) == 4 else (1,) * (self.rank(value) - 1) + (-1,)
        return self.const(vector.reshape(shape))

    def affine(self, value, scale, shift):
        if scale is not None and not np.all(np.asarray(scale) == 1):
            value = self.ops.multiply(value, self.per_channel(value, scale))
        if shift is not None and np.any(np.asarray(shift) != 0):
            value = self.ops.add(value, self.per_channel(value, shift))
        return value

    def axis(self, value, axis):
        """A Keras (channels-last) axis in this value's layout."""
        rank = self.rank(value)
        axis = axis % rank
        if rank != 4:
            return axis
        return {0: 0, 1: 2, 2: 3, 3: 1}[axis]

    # the model
    def build(self):
        ov, ops = self.ov, self.ops
        parameters, inputs = [], []
        for tensor in self.model.inputs:
            if tensor.dtype != tf.float32:
                raise ConversionError(f"{self.model.name}: input {tensor.name} is {tensor.dtype.name}; only float32 inputs")
            if None in tensor.shape[1:]:
                raise ConversionError(
                    f"{self.model.name}: input {tensor.name} has shape {tuple(tensor.shape)}; OpenVINO's "
                    "BinaryConvolution needs static sizes, so give the model a fixed input shape"
                )
            # Batch 1: the CPU plugin runs BinaryConvolution only with static shapes.
            shape = [1, *(int(d) for d in tensor.shape[1:])]
            parameter = ops.parameter(ov.PartialShape(shape), np.float32, name=tensor.name.split(":")[0])
            parameters.append(parameter)
            inputs.append(self.nchw(parameter) if len(shape) == 4 else parameter.output(0))
        self._plan_folds(self.model)
        outputs = graph.evaluate(self.model, inputs, self.apply)
        results = [ops.result(self.nhwc(o) if self.rank(o) == 4 else o) for o in outputs]
        for result, tensor in zip(results, self.model.outputs):
            result.output(0).get_tensor().set_names({tensor.name.split(":")[0].split("/")[0]})
        return ov.Model(results, parameters, self.model.name)

    def _plan_folds(self, model):
        for layer in model.layers:
            if isinstance(layer, tf.keras.Model):
                self._plan_folds(layer)
            elif isinstance(layer, tf.keras.layers.Conv2D) and not isinstance(layer, tf.keras.layers.Conv2DTranspose):
                bn = _sole_batch_norm(layer)
                if bn is not None:
                    self.folds[id(layer)] = bn
                    self.folded.add(id(bn))

    def apply(self, layer, *args, **kwargs):
        if isinstance(layer, tf.keras.Model):
            if not graph.is_graph_network(layer):
                _refuse(layer, "a subclassed model inside the model cannot be walked; build it with the functional API")
            inputs = tf.nest.flatten(args)
            outputs = graph.evaluate(layer, inputs, self.apply)
            return outputs if len(outputs) > 1 else outputs[0]
        handler = _HANDLERS.get(type(layer))
        if handler is None:
            for kind, candidate in _HANDLERS.items():
                if isinstance(layer, kind):
                    handler = candidate
                    break
        if handler is None:
            _refuse(layer, "OpenVINO conversion does not support this layer type")
        return tf.nest.map_structure(_output, handler(self, layer, args[0]))

    def folded_batch_norm(self, layer):
        return self.folds.get(id(layer))


def _sole_batch_norm(layer):
    """The BatchNormalization that alone reads `layer`'s (linear) output, to fold into it."""
    readers = graph.consumers(layer)
    if not readers or len(readers) != 1 or getattr(layer, "activation", None) is not tf.keras.activations.linear:
        return None
    bn = readers[0]
    if not isinstance(bn, tf.keras.layers.BatchNormalization) or list(bn.axis) not in ([3], [-1]):
        return None
    return bn if graph.consumers(bn) is not None else None


def _batch_norm_affine(bn):
    gamma = tf.keras.backend.get_value(bn.gamma) if bn.scale else 1.0
    beta = tf.keras.backend.get_value(bn.beta) if bn.center else 0.0
    scale = gamma / np.sqrt(tf.keras.backend.get_value(bn.moving_variance) + bn.epsilon)
    return scale.astype(np.float32), (beta - tf.keras.backend.get_value(bn.moving_mean) * scale).astype(np.float32)


def _value(variable):
    return tf.keras.backend.get_value(getattr(variable, "latent_variable", variable))


def _kernel(layer):
    """The kernel the layer computes with: its quantizer applied, when it has one."""
    latent = _value(layer.kernel)
    quantizer = getattr(layer, "kernel_quantizer", None)
    if quantizer is None:
        return latent
    return tf.keras.backend.get_value(quantizer(tf.constant(latent)))


def _bit_threshold(threshold):
    """FakeQuantize's threshold for larq's sign(x - t): the float32 just below t.

    FakeQuantize (levels 2) maps x <= its threshold to bit 0 (-1), while larq
    maps x == t to +1. Near 0 the float32 below t would be a denormal, which
    TensorFlow flushes to 0 (so to +1): there it is minus the smallest normal.
    """
    tiny = np.finfo(np.float32).tiny
    threshold = np.float32(threshold)
    return -tiny if abs(threshold) < 2 * tiny else np.nextafter(threshold, np.float32(-np.inf))


def _sign_threshold(layer):
    """The t of a sign input quantizer (x >= t -> +1, else -1), checked on probe values."""
    quantizer = layer.input_quantizer
    threshold = np.float32(getattr(quantizer, "threshold", 0.0))
    probe = np.array(
        [threshold - 2, threshold - 1e-3, _bit_threshold(threshold), threshold,
         threshold + np.finfo(np.float32).tiny, threshold + 1e-3, threshold + 2],
        np.float32,
    )
    got = tf.keras.backend.get_value(quantizer(tf.constant(probe)))
    expected = np.where(probe >= threshold, 1.0, -1.0)
    if not np.array_equal(got, expected):
        _refuse(
            layer,
            f"its input quantizer {getattr(quantizer, '__name__', type(quantizer).__name__)} is not a sign "
            "(-1 below its threshold, +1 from it on), the only binary input OpenVINO's BinaryConvolution takes",
        )
    return threshold


def _auto_pad(layer):
    # TensorFlow's 'same' puts the odd pixel of padding at the end: OpenVINO's same_upper.
    return "same_upper" if layer.padding == "same" else "valid"


# -- layers ------------------------------------------------------------------------


def _activation(builder, layer, x, activation=None, axis=None):
    """`layer`'s activation (or `activation`) on x; softmax over `axis`, by default the channels."""
    activation = activation if activation is not None else getattr(layer, "activation", None)
    if activation is None or activation is tf.keras.activations.linear:
        return x
    ops = builder.ops
    name = getattr(activation, "__name__", str(activation))
    simple = {"relu": ops.relu, "sigmoid": ops.sigmoid, "tanh": ops.tanh, "softplus": ops.softplus,
              "swish": ops.swish, "silu": ops.swish}
    if name in simple:
        return simple[name](x)
    if name == "elu":
        return ops.elu(x, 1.0)
    if name == "softmax":
        return ops.softmax(x, builder.channel_axis(x) if axis is None else axis)
    _refuse(layer, f"activation {name!r} has no exact OpenVINO counterpart here")


def _float_conv(builder, layer, x):
    ops = builder.ops
    if getattr(layer, "input_quantizer", None) is not None:
        _refuse(
            layer,
            "its input is binarized but its kernel is not +-scale per output channel, so it is not a "
            "binary convolution; OpenVINO would run it as float",
        )
    if getattr(layer, "pad_values", 0.0) not in (0, 0.0):
        _refuse(layer, "pad_values other than 0 on a float convolution")
    kernel = np.asarray(_kernel(layer), np.float32)  # (kh, kw, cin / groups, cout)
    bias = _value(layer.bias).astype(np.float32) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
    bn = builder.folded_batch_norm(layer)
    if bn is not None:
        scale, shift = _batch_norm_affine(bn)
        kernel, bias = kernel * scale, bias * scale + shift
    pad = _auto_pad(layer)
    strides, dilations = list(layer.strides), list(layer.dilation_rate)
    if layer.groups > 1:
        kh, kw, per_group, cout = kernel.shape
        weights = kernel.transpose(3, 2, 0, 1).reshape(layer.groups, cout // layer.groups, per_group, kh, kw)
        y = ops.group_convolution(x, builder.const(weights), strides, [0, 0], [0, 0], dilations, pad)
    else:
        weights = kernel.transpose(3, 2, 0, 1)
        y = ops.convolution(x, builder.const(weights), strides, [0, 0], [0, 0], dilations, pad)
    return _activation(builder, layer, builder.affine(y, None, bias))


def _binary_conv(builder, layer, x):
    ops = builder.ops
    if layer.groups != 1:
        _refuse(layer, f"groups={layer.groups}: OpenVINO's BinaryConvolution has no groups")
    if layer.data_format != "channels_last":
        _refuse(layer, "only channels_last binary convolutions")
    pad_value = float(layer.pad_values)
    if pad_value not in (-1.0, 0.0, 1.0):
        _refuse(layer, f"pad_values={layer.pad_values}: BinaryConvolution pads with -1, 0 or +1 only")
    threshold = _sign_threshold(layer)
    kernel = np.moveaxis(np.asarray(_kernel(layer), np.float32), -1, 0)  # (cout, kh, kw, cin)
    magnitudes = np.abs(kernel).reshape(len(kernel), -1)
    scale = magnitudes.max(axis=1)
    # A channel of zeros (a pruned filter) computes 0: any bits, scale 0.
    if not np.all(np.isclose(magnitudes, scale[:, None], rtol=1e-6, atol=0) | (scale[:, None] == 0)):
        zeros = int(np.sum((magnitudes == 0) & (scale[:, None] > 0)))
        reason = (
            f"its kernel has {zeros} zero weight(s) inside channels that are not all zero"
            if zeros
            else "its kernel's magnitudes differ within an output channel"
        )
        _refuse(layer, f"{reason}; BinaryConvolution needs +-scale per output channel")
    bias = _value(layer.bias).astype(np.float32) if layer.use_bias else np.zeros(len(kernel), np.float32)
    bn = builder.folded_batch_norm(layer)
    if bn is not None:
        bn_scale, bn_shift = _batch_norm_affine(bn)
        scale, bias = scale * bn_scale, bias * bn_scale + bn_shift
    if _fed_by_model_input(x):
        # The CPU plugin crashes (2026.4) running a BinaryConvolution whose binarized input
        # comes straight from the input's layout transpose; an identity pool keeps them apart.
        x = ops.avg_pool(x, [1, 1], [0, 0], [0, 0], [1, 1], True)
    # The sign as one bit: FakeQuantize with 2 levels, 0 up to its threshold, 1 above.
    low = builder.const(_bit_threshold(threshold))
    bits = ops.fake_quantize(x, low, low, builder.const(0.0), builder.const(1.0), 2)
    y = ops.binary_convolution(
        bits, bits_constant(builder.ov, kernel.transpose(0, 3, 1, 2)), list(layer.strides), [0, 0], [0, 0],
        list(layer.dilation_rate), "xnor-popcount", pad_value, _auto_pad(layer),
    )
    y.set_friendly_name(layer.name)
    builder.binary += 1
    return _activation(builder, layer, builder.affine(y, scale, bias))


_ELEMENTWISE = {"Add", "Subtract", "Multiply", "Divide", "Relu", "PRelu", "Clamp", "Minimum", "Maximum",
                "Sigmoid", "Tanh", "Elu", "Swish", "SoftPlus", "Pad"}


def _fed_by_model_input(x):
    """Whether `x` is the model input, its transpose, or elementwise ops on them only."""
    node = _output(x).get_node()
    while True:
        kind = node.get_type_name()
        if kind in ("Parameter", "Transpose") and (kind == "Parameter" or _is_input_transpose(node)):
            return True
        if kind not in _ELEMENTWISE:
            return False
        sources = [i.get_source_output().get_node() for i in node.inputs()]
        variable = [n for n in sources if n.get_type_name() != "Constant"]
        if len(variable) != 1:
            return False
        node = variable[0]


def _is_input_transpose(node):
    return node.input(0).get_source_output().get_node().get_type_name() == "Parameter"


def _conv(builder, layer, x):
    if isinstance(layer, MultiBaseConv2D):
        _refuse(layer, "a MultiBaseConv2D is left after strip_pruning")
    if isinstance(layer, tf.keras.layers.Conv2DTranspose):
        _refuse(layer, "OpenVINO conversion does not support transposed convolutions")
    if isinstance(layer, lq.layers.QuantConv2D) and is_binary_layer(layer):
        return _binary_conv(builder, layer, x)
    return _float_conv(builder, layer, x)


def _depthwise(builder, layer, x):
    if isinstance(layer, lq.layers.QuantDepthwiseConv2D) and (layer.input_quantizer or layer.depthwise_quantizer):
        _refuse(layer, "quantized depthwise convolutions have no binary OpenVINO op")
    if getattr(layer, "pad_values", 0.0) not in (0, 0.0):
        _refuse(layer, "pad_values other than 0 on a float convolution")
    ops = builder.ops
    kernel = np.asarray(_value(layer.depthwise_kernel), np.float32)
    kh, kw, channels, multiplier = kernel.shape
    bias = _value(layer.bias).astype(np.float32) if layer.use_bias else None
    weights = kernel.transpose(2, 3, 0, 1).reshape(channels, multiplier, 1, kh, kw)
    y = ops.group_convolution(
        x, builder.const(weights), list(layer.strides), [0, 0], [0, 0], list(layer.dilation_rate),
        _auto_pad(layer),
    )
    return _activation(builder, layer, builder.affine(y, None, bias))


def _dense(builder, layer, x):
    if isinstance(layer, lq.layers.QuantDense) and (layer.input_quantizer or layer.kernel_quantizer):
        _refuse(layer, "binary or quantized Dense layers have no binary OpenVINO op; use a 1x1 QuantConv2D")
    ops = builder.ops
    four_d = builder.rank(x) == 4
    if four_d:  # Dense acts on the last Keras axis: compute channels-last
        x = builder.nhwc(x)
    y = ops.matmul(x, builder.const(_value(layer.kernel)), False, False)
    if layer.use_bias:
        y = ops.add(y, builder.const(_value(layer.bias)))
    y = _activation(builder, layer, y, axis=builder.rank(y) - 1)
    return builder.nchw(y) if four_d else y


def _batch_norm(builder, layer, x):
    if id(layer) in builder.folded:  # already in the convolution before it
        return x
    if list(layer.axis) not in ([builder.rank(x) - 1], [-1]):
        _refuse(layer, f"axis={layer.axis}: only the channel (last) axis")
    return builder.affine(x, *_batch_norm_affine(layer))


def _pool(builder, layer, x):
    ops = builder.ops
    kernel, strides = list(layer.pool_size), list(layer.strides)
    pad = _auto_pad(layer)
    if isinstance(layer, tf.keras.layers.MaxPooling2D):
        return ops.max_pool(x, strides, [1, 1], [0, 0], [0, 0], kernel, "floor", pad).output(0)
    # TensorFlow's 'same' average pooling divides by the pixels inside the image.
    return ops.avg_pool(x, strides, [0, 0], [0, 0], kernel, True, "floor", pad)


def _global_pool(builder, layer, x):
    axes = builder.const([2, 3], np.int64)
    reduce = builder.ops.reduce_mean if isinstance(layer, tf.keras.layers.GlobalAveragePooling2D) else builder.ops.reduce_max
    return reduce(x, axes, bool(getattr(layer, "keepdims", False)))


def _merge(builder, layer, inputs):
    ops = builder.ops
    binary = {
        tf.keras.layers.Add: ops.add, tf.keras.layers.Multiply: ops.multiply,
        tf.keras.layers.Maximum: ops.maximum, tf.keras.layers.Minimum: ops.minimum,
    }
    if isinstance(layer, tf.keras.layers.Concatenate):
        return ops.concat(list(inputs), builder.axis(inputs[0], layer.axis))
    if isinstance(layer, tf.keras.layers.Subtract):
        return ops.subtract(inputs[0], inputs[1])
    if isinstance(layer, tf.keras.layers.Average):
        total = functools.reduce(ops.add, inputs)
        return ops.multiply(total, builder.const(1.0 / len(inputs)))
    return functools.reduce(binary[type(layer)], inputs)


def _merge_handler(builder, layer, x):
    return _merge(builder, layer, x)


def _relu_layer(builder, layer, x):
    ops = builder.ops
    negative = float(getattr(layer, "negative_slope", 0.0) or 0.0)
    threshold = float(getattr(layer, "threshold", 0.0) or 0.0)
    max_value = getattr(layer, "max_value", None)
    if threshold:
        _refuse(layer, "ReLU thresholds other than 0")
    y = ops.prelu(x, builder.const([negative])) if negative else ops.relu(x)
    if max_value is not None:
        y = ops.minimum(y, builder.const(float(max_value)))
    return y


def _leaky_relu(builder, layer, x):
    return builder.ops.prelu(x, builder.const([float(layer.alpha)]))


def _prelu(builder, layer, x):
    alpha = np.asarray(_value(layer.alpha), np.float32)
    if builder.rank(x) == 4:
        alpha = alpha.transpose(2, 0, 1)[None] if alpha.ndim == 3 else alpha
    ops = builder.ops
    slope = builder.const(alpha)
    return ops.add(ops.relu(x), ops.multiply(slope, ops.minimum(x, builder.const(0.0))))


def _softmax_layer(builder, layer, x):
    axis = layer.axis if isinstance(layer.axis, int) else None
    if axis is None:
        _refuse(layer, "softmax over several axes")
    return builder.ops.softmax(x, builder.axis(x, axis))


def _activation_layer(builder, layer, x):
    return _activation(builder, layer, x, layer.activation)


def _identity(builder, layer, x):
    return x


def _flatten(builder, layer, x):
    if builder.rank(x) == 4:
        x = builder.nhwc(x)
    return builder.ops.reshape(x, builder.const([0, -1], np.int64), True)


def _reshape(builder, layer, x):
    if builder.rank(x) == 4:
        x = builder.nhwc(x)
    y = builder.ops.reshape(x, builder.const([0, *layer.target_shape], np.int64), True)
    return builder.nchw(y) if len(layer.target_shape) == 3 else y


def _zero_padding(builder, layer, x):
    (top, bottom), (left, right) = layer.padding
    return builder.ops.pad(
        x, builder.const([0, 0, top, left], np.int64), builder.const([0, 0, bottom, right], np.int64), "constant",
        builder.const(0.0),
    )


def _sum_of_slices(builder, layer, x):
    # The slices of a stacked binary convolution (one per weight base) on the channel axis.
    axis = builder.const(builder.channel_axis(x), np.int64)
    parts = builder.ops.split(x, axis, layer.parts).outputs()
    total = parts[0]
    for part in parts[1:]:
        total = builder.ops.add(total, part)
    return total


def _channel_slice(builder, layer, x):
    axis = builder.channel_axis(x)
    return builder.ops.slice(x, builder.const([layer.begin], np.int64), builder.const([layer.begin + layer.size], np.int64),
                             builder.const([1], np.int64), builder.const([axis], np.int64))


def _constant_pad(builder, layer, x):
    (top, bottom), (left, right) = layer.padding
    return builder.ops.pad(
        x, builder.const([0, 0, top, left], np.int64), builder.const([0, 0, bottom, right], np.int64), "constant",
        builder.const(layer.value),
    )


def _rescaling(builder, layer, x):
    ops = builder.ops
    return ops.add(ops.multiply(x, builder.const(np.asarray(layer.scale, np.float32))),
                   builder.const(np.asarray(layer.offset, np.float32)))


_HANDLERS = {
    tf.keras.layers.DepthwiseConv2D: _depthwise,
    lq.layers.QuantDepthwiseConv2D: _depthwise,
    tf.keras.layers.Conv2D: _conv,
    lq.layers.QuantConv2D: _conv,
    tf.keras.layers.Dense: _dense,
    lq.layers.QuantDense: _dense,
    tf.keras.layers.BatchNormalization: _batch_norm,
    tf.keras.layers.MaxPooling2D: _pool,
    tf.keras.layers.AveragePooling2D: _pool,
    tf.keras.layers.GlobalAveragePooling2D: _global_pool,
    tf.keras.layers.GlobalMaxPooling2D: _global_pool,
    tf.keras.layers.Add: _merge_handler,
    tf.keras.layers.Subtract: _merge_handler,
    tf.keras.layers.Multiply: _merge_handler,
    tf.keras.layers.Average: _merge_handler,
    tf.keras.layers.Maximum: _merge_handler,
    tf.keras.layers.Minimum: _merge_handler,
    tf.keras.layers.Concatenate: _merge_handler,
    tf.keras.layers.ReLU: _relu_layer,
    tf.keras.layers.LeakyReLU: _leaky_relu,
    tf.keras.layers.PReLU: _prelu,
    tf.keras.layers.Softmax: _softmax_layer,
    tf.keras.layers.Activation: _activation_layer,
    tf.keras.layers.Dropout: _identity,
    tf.keras.layers.SpatialDropout2D: _identity,
    tf.keras.layers.GaussianNoise: _identity,
    tf.keras.layers.GaussianDropout: _identity,
    tf.keras.layers.Flatten: _flatten,
    tf.keras.layers.Reshape: _reshape,
    tf.keras.layers.ZeroPadding2D: _zero_padding,
    tf.keras.layers.Rescaling: _rescaling,
    export.SumOfSlices: _sum_of_slices,
    export.ChannelSlice: _channel_slice,
    export.ConstantPad: _constant_pad,
}


# -- the public steps --------------------------------------------------------------


def to_openvino(model):
    """The OpenVINO model (`openvino.Model`) of `model`, stripped first; no parity check.

    Inputs and outputs keep Keras' channels-last layout; the batch size is 1
    (`compile_openvino(..., batch=N)` makes another). Raises `ConversionError` naming the layer it cannot express.
    """
    ov = require_openvino()
    deployable = strip_pruning(model)
    builder = _Builder(ov, deployable)
    ir = builder.build()
    expected = len(binary_layers(deployable))
    if builder.binary != expected:
        raise ConversionError(
            f"{model.name}: {expected} binary layers in Keras but {builder.binary} BinaryConvolution ops were built"
        )
    return ir



def flat_outputs(outputs):
    """A model's output(s) as one (samples, values) float64 array, for parity."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in outputs], axis=1)



@dataclasses.dataclass
class OpenVinoConversion(SavedAsIR):
    model: object  # openvino.Model
    census: dict
    parity: object  # tfbin.convert.parity.Parity
    binary_layers: int = 0
    kernels: dict = dataclasses.field(default_factory=dict)  # BinaryConvolution primitive -> count

    def to_dict(self):
        return {
            "size_bytes": self.size_bytes,
            "census": self.census,
            "parity": self.parity.to_dict(),
            "binary_layers": self.binary_layers,
            "kernels": self.kernels,
        }


def convert_openvino(
    model,
    calibration_data=None,
    min_agreement=MIN_AGREEMENT,
    max_p90_rel_error=MAX_P90_REL_ERROR,
    samples=64,
    seed=0,
):
    """Converts `model` to OpenVINO; returns an `OpenVinoConversion` or raises `ConversionError`.

    Arguments as for `tfbin.convert.convert` (there is no float fallback to
    allow: a binary layer that cannot become a BinaryConvolution is refused).
    Parity is judged with the float32 CPU plugin on `calibration_data`, as for LCE.

    ```python
    import tfbin
    from tfbin import data, zoo
    from tfbin.convert import convert_openvino

    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    result = convert_openvino(model, calibration_data=data.digits_arrays().x_test[:100])
    result.census["BinaryConvolution"], result.parity.argmax_agreement
    ```
    """
    ir = to_openvino(model)
    x = _calibration_inputs(model, calibration_data, samples, seed)
    parity = check_openvino_parity(model, ir, x, min_agreement, max_p90_rel_error)
    census = ir_census(ir)
    return OpenVinoConversion(
        model=ir, census=census, parity=parity, binary_layers=census.get("BinaryConvolution", 0),
        kernels=kernels(compile_openvino(ir, threads=1)),
    )


def check_openvino_parity(model, ir, x, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
    """Parity of the OpenVINO model `ir` with the Keras `model` on `x`, judged as for LCE (`judge_parity`)."""
    try:
        candidate = openvino_predict(ir, x)
    except RuntimeError as error:
        raise ConversionError(f"{model.name}: OpenVINO cannot run the converted model: {error}") from error
    reference = model.predict(x, verbose=0, batch_size=32)
    return judge_parity(model, x, flat_outputs(reference), flat_outputs(candidate), min_agreement, max_p90_rel_error, "OpenVINO")
