"""The float layers of a binary network in int8, for Larq Compute Engine: calibration and fake quantization.

A deployed binary network keeps some layers float on purpose (the stem, the
1x1 downsampling shortcuts, the classifier), and on a CPU they can cost as
much as all the binary convolutions together. LCE's converter emits int8
kernels for float layers whose graph carries fake-quantization ranges, next
to its binary ones. `fake_quantized` is the export pass that puts those
ranges there: it runs the stripped model on calibration data, records the
range of every float layer's input and output (per tensor) and of its kernel
(per output channel, symmetric), and rebuilds the model with each float
`Conv2D` and `Dense` (a following inference BatchNormalization folded in)
replaced by a `FakeQuantized` layer. The training code and the trained model
stay untouched. `int8_operators` then proves from the flatbuffer that every
one of them became an int8 CONV_2D or FULLY_CONNECTED (int8 input and
weights) and that no float convolution or dense operator is left.

A layer with a kernel that is neither binary nor a plain 2D convolution or
dense layer (depthwise, separable, transposed, 1D or 3D convolutions,
grouped or dilated float convolutions, quantizers other than 1-bit ones) is
refused with `NotInt8Error`, naming it: a model that would silently keep a
float layer is not an int8 model.

int8 moves outputs by design: `judge_int8_parity` holds the argmax
agreement with Keras (`MIN_INT8_AGREEMENT` unless told) and reports the
relative error without holding it.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import convert
from tfbin.convert.int8 import int8_operators

x = data.digits_arrays().x_test[:64]
model = zoo.digits_resnet(width=8)  # untrained here; a trained one keeps 0.98 agreement (the default)
result = convert(model, calibration_data=x, float_layers="int8", min_agreement=0.01)
result.int8_layers                  # ["stem_conv", "stage2_block1_down", "logits"]
result.census["LceBconv2d"]         # 4: the binary layers stay binary
int8_operators(result.tflite)[0]    # ("CONV_2D", "INT8", "INT8", "digits_resnet/stem_conv/...")
result.parity.p90_rel_error         # reported, not held
```
"""
import collections

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin.choices import FLOAT_LAYERS
from tfbin.convert.errors import ConversionError, ParityError
from tfbin.convert.fallback import binary_layers
from tfbin.convert.parity import measure_parity
from tfbin.export import batch_norm_affine

__all__ = [
    "FLOAT_LAYERS",
    "MIN_INT8_AGREEMENT",
    "FakeQuantized",
    "NotInt8Error",
    "calibrate",
    "check_int8",
    "fake_quantized",
    "float_kernel_layers",
    "int8_candidates",
    "int8_operators",
    "judge_int8_parity",
    "require_calibration",
]

# int8 changes outputs by design; the argmax agreement a mixed model must keep by default.
MIN_INT8_AGREEMENT = 0.98
_CALIBRATION_BATCH = 64


class NotInt8Error(ConversionError):
    """Float layers that cannot become int8; `layers` holds (name, reason) pairs."""

    def __init__(self, message, layers):
        super().__init__(message)
        self.layers = layers


# -- which layers ------------------------------------------------------------------


def _has_quantizers(layer):
    return any(getattr(layer, name, None) is not None for name in ("input_quantizer", "kernel_quantizer"))


def _has_kernel(layer):
    return any("kernel" in weight.name.split("/")[-1] for weight in layer.weights)


def _why_not_int8(layer):
    """None when `layer` (float, with a kernel) can be made int8, else the reason."""
    kind = type(layer).__name__
    if type(layer) in (tf.keras.layers.Conv2D, lq.layers.QuantConv2D):
        if _has_quantizers(layer):
            return f"a {kind} with quantizers that are not 1-bit has no int8 form here"
        if layer.groups != 1:
            return f"a grouped {kind} (groups={layer.groups}) has no int8 kernel in TFLite"
        if tuple(layer.dilation_rate) != (1, 1):
            return f"a dilated {kind} (dilation_rate={tuple(layer.dilation_rate)}) is not made int8 here"
        if layer.data_format != "channels_last":
            return f"a {kind} with data_format={layer.data_format!r} is not made int8 here (channels_last only)"
        return None
    if type(layer) in (tf.keras.layers.Dense, lq.layers.QuantDense):
        if _has_quantizers(layer):
            return f"a {kind} with quantizers that are not 1-bit has no int8 form here"
        if len(layer.input_shape) != 2:
            return f"a {kind} on a rank-{len(layer.input_shape)} input is not made int8 here (rank-2 inputs only)"
        return None
    return (f"a {kind} is not made int8 here: only float Conv2D and Dense layers are (depthwise, separable, "
            "transposed, 1D and 3D convolutions are not)")


def float_kernel_layers(model):
    """The layers of a stripped model that carry a kernel and are not binary
    (`tfbin.convert.fallback.binary_layers`): its float layers, nested ones included."""
    from tfbin.cost import flatten_layers

    binary = {layer.name for layer in binary_layers(model)}
    return [layer for layer in flatten_layers(model) if layer.name not in binary and _has_kernel(layer)]


def int8_candidates(model):
    """(layers to make int8, [(name, reason)] of float layers with a kernel that cannot be) of a stripped model.

    Binary layers stay binary and are in neither list.
    """
    candidates, refused = [], []
    for layer in float_kernel_layers(model):
        if layer not in model.layers:
            refused.append((layer.name, "it sits inside a nested model; only top-level layers are made int8"))
            continue
        if len(layer.inbound_nodes) != 1:
            refused.append((layer.name, "it is called more than once (a shared layer)"))
            continue
        reason = _why_not_int8(layer)
        if reason:
            refused.append((layer.name, reason))
        else:
            candidates.append(layer)
    return candidates, refused


def _folded_batch_norm(layer, model):
    """The inference BatchNormalization that reads only `layer`'s output and can fold into it, or None."""
    from tfbin import graph

    if layer.activation not in (None, tf.keras.activations.linear):
        return None
    consumers = graph.consumers(layer) or []
    if len(consumers) != 1 or not isinstance(consumers[0], tf.keras.layers.BatchNormalization):
        return None
    bn = consumers[0]
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    rank = len(bn.input_shape)
    if axis is None or axis % rank != rank - 1 or len(bn.inbound_nodes) != 1 or bn not in model.layers:
        return None
    return bn


def require_calibration(model, calibration_data):
    """`calibration_data` as float32; ValueError when it is missing: int8 ranges must come from real inputs."""
    if calibration_data is None:
        raise ValueError(
            f"{model.name}: float_layers='int8' needs calibration_data (real inputs of the model): the int8 "
            "ranges are calibrated on it, and random inputs would give ranges that real data overflows"
        )
    return np.asarray(calibration_data, np.float32)


# -- calibration -------------------------------------------------------------------


class _Range:
    def __init__(self):
        self.low, self.high = np.inf, -np.inf

    def update(self, values):
        self.low = min(self.low, float(np.min(values)))
        self.high = max(self.high, float(np.max(values)))

    def bounds(self):
        """(min, max) including 0, as fake quantization needs, never empty."""
        low, high = min(self.low, 0.0), max(self.high, 0.0)
        if high - low < 1e-6:
            high = low + 1e-6
        return low, high


def _folded_weights(layer, bn):
    kernel = np.asarray(tf.keras.backend.get_value(layer.kernel), np.float32)
    bias = (np.asarray(tf.keras.backend.get_value(layer.bias), np.float32) if layer.use_bias
            else np.zeros(kernel.shape[-1], np.float32))
    if bn is not None:
        scale, shift = batch_norm_affine(bn)
        kernel = kernel * scale
        bias = bias * scale + shift
    return kernel.astype(np.float32), np.asarray(bias, np.float32)


def calibrate(model, layers, x):
    """{layer name: ((input min, max), (output min, max))} of `layers` of `model` over the inputs `x`.

    The output is that of the layer with its folded BatchNormalization, where
    it has one. Per tensor, over every calibration sample.
    """
    outputs = []
    for layer in layers:
        bn = _folded_batch_norm(layer, model)
        outputs += [layer.input, (bn or layer).output]
    probe = tf.keras.Model(model.inputs, outputs)
    ranges = [_Range() for _ in outputs]
    x = np.asarray(x, np.float32)
    for start in range(0, len(x), _CALIBRATION_BATCH):
        values = probe(x[start : start + _CALIBRATION_BATCH], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        for tracker, value in zip(ranges, values):
            tracker.update(np.asarray(value))
    return {
        layer.name: (ranges[2 * i].bounds(), ranges[2 * i + 1].bounds()) for i, layer in enumerate(layers)
    }


# -- the export layer --------------------------------------------------------------


def _register(cls):
    return tf.keras.utils.register_keras_serializable("tfbin")(cls)


@_register
class FakeQuantized(tf.keras.layers.Layer):
    """A float 2D convolution or dense layer carrying int8 ranges, as LCE's converter turns into int8 kernels.

    Computes fake_quant(activation(op(fake_quant(x), fake_quant_per_channel(kernel)) + bias)),
    with `op` a 2D convolution (`kind="conv2d"`) or a matrix product
    (`kind="dense"`); the kernel's range is symmetric per output channel
    (narrow range, as TFLite's int8 weights), the input's and output's per
    tensor. Built by `fake_quantized`, not by hand.

    ```python
    import numpy as np
    import tfbin
    from tfbin.convert.int8 import FakeQuantized

    layer = FakeQuantized("dense", input_range=(-1.0, 1.0), output_range=(-2.0, 2.0))
    layer.build((None, 3))
    layer.set_weights([np.eye(3, 3, dtype=np.float32), np.zeros(3, np.float32)])
    layer(np.array([[0.5, -0.25, 1.5]], np.float32)).numpy()   # [[0.502, -0.251, 1.004]]: 8-bit steps, 1.5 clipped
    ```
    """

    def __init__(self, kind, input_range, output_range, strides=(1, 1), padding="valid",
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("conv2d", "dense"):
            raise ValueError(f"kind={kind!r}: expected 'conv2d' or 'dense'")
        self.kind = kind
        self.input_range = tuple(float(v) for v in input_range)
        self.output_range = tuple(float(v) for v in output_range)
        self.strides = tuple(strides)
        self.padding = padding
        self.activation = tf.keras.activations.get(activation)

    def build(self, input_shape, kernel_shape=None):
        if kernel_shape is None:
            if self.kind != "dense":
                raise ValueError("a conv2d FakeQuantized is built by fake_quantized, with its kernel's shape")
            kernel_shape = (input_shape[-1], input_shape[-1])
        self.kernel = self.add_weight("kernel", shape=kernel_shape, trainable=False)
        self.bias = self.add_weight("bias", shape=kernel_shape[-1:], initializer="zeros", trainable=False)
        super().build(input_shape)

    def _kernel_ranges(self):
        reduce = list(range(len(self.kernel.shape) - 1))
        bound = tf.maximum(tf.reduce_max(tf.abs(self.kernel), axis=reduce), 1e-6)
        return -bound, bound

    def call(self, inputs):
        low, high = self.input_range
        x = tf.quantization.fake_quant_with_min_max_args(inputs, min=low, max=high, num_bits=8)
        kmin, kmax = self._kernel_ranges()
        if self.kind == "conv2d":
            kernel = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                self.kernel, kmin, kmax, num_bits=8, narrow_range=True
            )
        else:
            # TFLite's converter transposes a dense kernel into FULLY_CONNECTED's layout and refuses to
            # move a per-channel quantization axis with it ("mismatched quantized axes"): per tensor here.
            kernel = tf.quantization.fake_quant_with_min_max_vars(
                self.kernel, tf.reduce_min(kmin), tf.reduce_max(kmax), num_bits=8, narrow_range=True
            )
        if self.kind == "conv2d":
            y = tf.nn.conv2d(x, kernel, strides=self.strides, padding=self.padding.upper())
        else:
            y = tf.matmul(x, kernel)
        y = self.activation(tf.nn.bias_add(y, self.bias))
        low, high = self.output_range
        return tf.quantization.fake_quant_with_min_max_args(y, min=low, max=high, num_bits=8)

    def get_config(self):
        return {
            **super().get_config(), "kind": self.kind, "input_range": self.input_range,
            "output_range": self.output_range, "strides": self.strides, "padding": self.padding,
            "activation": tf.keras.activations.serialize(self.activation),
        }


def _replacement(layer, bn, ranges):
    kernel, bias = _folded_weights(layer, bn)
    input_range, output_range = ranges
    if isinstance(layer, tf.keras.layers.Conv2D):
        new = FakeQuantized("conv2d", input_range, output_range, strides=layer.strides, padding=layer.padding,
                            activation=layer.activation, name=layer.name)
    else:
        new = FakeQuantized("dense", input_range, output_range, activation=layer.activation, name=layer.name)

    def apply(inputs, **kwargs):
        new.build(inputs.shape, kernel_shape=kernel.shape)
        outputs = new(inputs)
        new.set_weights([kernel, bias])
        return outputs

    return apply


def fake_quantized(model, calibration_data):
    """(`model` with its float layers fake-quantized, their names): the export pass for int8 float layers.

    `model` is a stripped model (`tfbin.pruning.strip_pruning`); its binary
    layers are kept as they are. Raises `NotInt8Error` (a `ConversionError`)
    naming every float layer that cannot be made int8.
    """
    from tfbin import graph

    layers, refused = int8_candidates(model)
    if refused:
        listing = "; ".join(f"{name}: {reason}" for name, reason in refused)
        raise NotInt8Error(
            f"{model.name}: float_layers='int8' cannot make {len(refused)} float layer(s) int8 ({listing}). "
            "Convert with float_layers='float', or replace them by Conv2D or Dense layers",
            refused,
        )
    if not layers:
        return model, []
    ranges = calibrate(model, layers, calibration_data)
    folded = {}
    for layer in layers:
        bn = _folded_batch_norm(layer, model)
        folded[layer.name] = bn
    absorbed = {bn.name for bn in folded.values() if bn is not None}
    by_name = {layer.name: layer for layer in layers}

    def replace(layer):
        if layer.name in absorbed:
            return lambda inputs, **kwargs: inputs
        if layer.name in by_name:
            return _replacement(layer, folded[layer.name], ranges[layer.name])
        return None

    return graph.rewrite(model, replace), [layer.name for layer in layers]


# -- proof in the flatbuffer ---------------------------------------------------------

# Builtin operators that multiply by a weight tensor (input 1): int8 or float.
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D", "BATCH_MATMUL")


def int8_operators(tflite):
    """[(operator, input type, weight type, output tensor name)] of the weighted builtin operators of `tflite`.

    Types are TFLite's names ("INT8", "FLOAT32", ...).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    from tfbin.convert.flatbuffer import _input, _operators, _output, validate

    types = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    model = validate(tflite)
    found = []
    for name, op in _operators(model):
        if name in _WEIGHTED:
            position = 2 if name == "TRANSPOSE_CONV" else 1
            found.append((name, types[_input(model, op, 0 if name != "TRANSPOSE_CONV" else 2).Type()],
                          types[_input(model, op, position).Type()],
                          _output(model, op).Name().decode(errors="replace")))
    return found


def check_int8(tflite, model_name, int8_layers, allowed_float=()):
    """Raises ConversionError unless every weighted operator of `tflite` is int8, and there are enough of them.

    `allowed_float` names layers allowed to stay float (binary layers accepted
    as float fallbacks); a float operator whose output names one of them is
    let through. Returns the int8 operators' census.
    """
    operators = int8_operators(tflite)
    floating = [(op, out) for op, ins, weights, out in operators if "INT8" not in (ins, weights)
                and not any(f"/{name}/" in f"/{out}/" or out.startswith(f"{name}/") or f"{name};" in out
                            for name in allowed_float)]
    if floating:
        listing = ", ".join(f"{op} ({out})" for op, out in floating)
        raise ConversionError(
            f"{model_name}: float_layers='int8', but the flatbuffer still has float operator(s) {listing}; "
            "LCE did not make them int8"
        )
    census = collections.Counter(op for op, ins, weights, _ in operators if ins == weights == "INT8")
    if sum(census.values()) < len(int8_layers):
        raise ConversionError(
            f"{model_name}: {len(int8_layers)} layers were fake-quantized ({', '.join(int8_layers)}) but the "
            f"flatbuffer holds only {sum(census.values())} int8 convolution or dense operators"
        )
    return dict(census)


def judge_int8_parity(model, reference, candidate, min_agreement=MIN_INT8_AGREEMENT, engine="TFLite"):
    """Parity of a model with int8 float layers: argmax agreement held, relative error reported only."""
    parity = measure_parity(reference, candidate)
    if parity.argmax_agreement < min_agreement:
        raise ParityError(
            f"{model.name}: the {engine} model with int8 float layers disagrees with Keras: argmax agreement "
            f"{parity.argmax_agreement:.4f} (need >= {min_agreement:.4g}; int8 moves outputs, so only the "
            f"agreement is held), 90th-percentile relative error {parity.p90_rel_error:.3g} over "
            f"{parity.samples} samples",
            parity,
        )
    return parity
