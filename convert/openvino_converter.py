"""Keras -> OpenVINO for x86 CPUs: binary convolutions as `BinaryConvolution`, faithful or refused.

Larq Compute Engine's fast binary kernels are for ARM; on x86 it runs
portable ones. OpenVINO's CPU plugin has XNOR-popcount kernels for SSE4.1,
AVX2 and AVX-512 behind its `BinaryConvolution` op, but no frontend emits
that op. So the conversion has two steps:

1. OpenVINO's TensorFlow frontend (`openvino.convert_model`) translates the
   model that `tfbin.pruning.strip_pruning` exports (its passes for target
   "openvino") into a float graph: every
   layer and every piece of user code (`x + y`, `Lambda`, `tf.split`,
   `UpSampling2D`, ...) as OpenVINO ops, BatchNorm folded into the
   convolutions. A larq binary convolution arrives as a sign of a tensor
   (larq's `sign(sign(x) + 0.1)`, which maps 0 to +1; a threshold t of a
   multi-base layer is folded into x), maybe padded with -1, 0 or +1,
   convolved with a constant kernel of +-alpha per output channel.
2. `BinaryConvolutions`, an OpenVINO `MatcherPass`, visits every Convolution
   and GroupConvolution. Each one in that form becomes FakeQuantize (levels
   2: the sign as one bit) -> BinaryConvolution (weights bit-packed in a `u1`
   constant; a grouped one is split into one per group) -> a per-channel
   multiply by alpha. Every other op stays as the frontend made it.

Each binary layer of the stripped Keras model (`tfbin.convert.fallback`) is
then found among the visited convolutions by its kernel's sign pattern: one
that did not become a BinaryConvolution raises `FloatFallbackError` naming
the layer and the condition it failed, unless `allow_float_fallback`. The
result is checked against Keras on calibration data at the precision it will
run with, by the parity rules of the LCE converter (`tfbin.convert.parity`).

What was checked against float references (tests/test_openvino.py): the
weights are 0/1 bits packed least significant bit first into a `u1` tensor
wrapped in a Constant op; input and weight bit 0 means -1 and 1 means +1;
`pad_value` is in the +-1 domain (1.0 pads with +1, -1.0 with -1, 0.0 adds
nothing, as larq's `pad_values` do); FakeQuantize with levels 2 maps x <= its
threshold to 0, so for larq's sign (x >= 0 -> +1) the threshold is the
negative float32 closest to 0 that TensorFlow does not flush.

OpenVINO is an optional dependency (`pip install "tfbin[openvino]"`); its
maintainers call BinaryConvolution obsolete, so the version is pinned and
`require_openvino` refuses an installation without the op.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import convert_openvino

x = data.digits_arrays().x_test[:64]
result = convert_openvino(zoo.digits_resnet(width=8), calibration_data=x)
result.census["BinaryConvolution"], result.parity.argmax_agreement, result.precision
result.save("model.xml")          # and model.bin beside it
```
"""
import dataclasses

import numpy as np
import tensorflow as tf

from tfbin.choices import FLOAT_LAYERS
from tfbin.convert.converter import _calibration_inputs, judge_parity
from tfbin.convert.errors import ConversionError, FloatFallbackError
from tfbin.convert.fallback import binary_layers, kernel_signature
from tfbin.convert.openvino_runtime import (
    PRECISIONS,
    SavedAsIR,
    bits_constant,
    compile_openvino,
    ir_census,
    kernels,
    model_precision,
    openvino_predict,
    require_openvino,
    set_precision,
)
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT, flat_outputs
from tfbin.cost import flatten_layers
from tfbin.export import effective_kernel
from tfbin.pruning import strip_pruning
from tfbin.validation import check_one_of

__all__ = [
    "BinaryConvolutions",
    "OpenVinoConversion",
    "check_openvino_parity",
    "convert_openvino",
    "to_openvino",
]

# The negative float32 closest to 0 that TensorFlow does not flush to 0: FakeQuantize
# maps x <= it to bit 0 (-1), so every x >= 0 becomes +1 as in larq's sign.
_BELOW_ZERO = -np.finfo(np.float32).tiny
# The widest padding the CPU plugin's BinaryConvolution compiles with (2026.4, measured:
# pads of 5 and more are "unsupported parameters", whatever the dilation).
_LARGEST_PAD = 4


# -- the float graph ---------------------------------------------------------------


def _float_graph(ov, model):
    """OpenVINO's TensorFlow frontend's translation of the Keras `model`, batch left dynamic."""
    examples = []
    for tensor in model.inputs:
        if tensor.dtype != tf.float32:
            raise ConversionError(f"{model.name}: input {tensor.name} is {tensor.dtype.name}; only float32 inputs")
        if None in tensor.shape[1:]:
            raise ConversionError(
                f"{model.name}: input {tensor.name} has shape {tuple(tensor.shape)}; OpenVINO's "
                "BinaryConvolution needs static sizes, so give the model a fixed input shape"
            )
        examples.append(np.zeros((1, *tensor.shape[1:]), np.float32))
    # The model itself, with example inputs: `input=[shape]` trips the frontend on `x + y` layers.
    try:
        return ov.convert_model(model, example_input=examples[0] if len(examples) == 1 else tuple(examples))
    except Exception as error:  # the frontend raises assorted error types
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        raise ConversionError(f"{model.name}: OpenVINO's TensorFlow frontend cannot translate it: {first}") from error


# -- finding binary convolutions ---------------------------------------------------


@dataclasses.dataclass
class _BinaryForm:
    """What a Convolution in binary form computes, ready to be built as a BinaryConvolution."""

    source: object  # the output whose sign is the binary input
    tie_to_plus: bool  # whether source == 0 is +1 (larq's sign) or -1
    pad_value: float
    pads_begin: list
    pads_end: list
    auto_pad: str
    weights: np.ndarray  # (groups, out per group, in per group, kh, kw)
    scale: np.ndarray  # alpha per output channel
    channels_last: bool  # whether source is still in Keras' NHWC layout


def _node(output):
    return output.get_node()


def _kind(output):
    return _node(output).get_type_name()


def _constant(output):
    """The value of a Constant op's output, or None when it is computed."""
    return _node(output).get_data() if _kind(output) == "Constant" else None


def _describe(output):
    node = _node(output)
    return f"{node.get_type_name()} {node.get_friendly_name()}"


def _sign_source(output):
    """(x, whether x == 0 gives +1) for larq's sign(sign(x) + c), 0 < |c| < 1; else a reason."""
    if _kind(output) != "Sign":
        return f"its input is not a sign of a tensor (it is {_describe(output)})"
    inner = _node(output).input_value(0)
    if _kind(inner) == "Add":
        terms = list(_node(inner).input_values())
        signs = [t for t in terms if _kind(t) == "Sign"]
        offsets = [_constant(t) for t in terms if _kind(t) == "Constant"]
        if len(signs) == 1 and len(offsets) == 1 and offsets[0].size == 1:
            offset = float(offsets[0].reshape(-1)[0])
            if 0 < abs(offset) < 1:  # sign(x) where x != 0, sign(c) at 0
                return _node(signs[0]).input_value(0), offset > 0
    # A plain sign maps 0 to 0, a third value one bit cannot hold (larq's ste_heaviside
    # arrives as sign(relu(x)), all zeros and ones).
    return (f"its input is a plain sign of {_describe(inner)}, which maps 0 to 0; BinaryConvolution's inputs "
            "are -1 or +1 only (larq's sign maps 0 to +1)")


_TO_NCHW = [0, 3, 1, 2]


def _layout(data):
    """(data, channels last): a convolution's input with the frontend's layout Transpose taken off.

    The frontend moves Keras' NHWC -> NCHW transposes up to the model input,
    except past a sign that reads the input itself.
    """
    if _kind(data) == "Transpose" and list(np.asarray(_constant(_node(data).input_value(1)))) == _TO_NCHW:
        return _node(data).input_value(0), True
    return data, False


def _padding(conv, data, channels_last):
    """(sign output, pad value, pads_begin, pads_end, auto_pad) of a convolution's input; else a reason."""
    attributes = conv.get_attributes()
    if _kind(data) != "Pad":
        return data, 0.0, attributes["pads_begin"], attributes["pads_end"], attributes["auto_pad"]
    pad = _node(data)
    values = [_constant(v) for v in list(pad.input_values())[1:]]
    value = values[2] if len(values) > 2 else np.zeros(1, np.float32)
    if pad.get_attributes()["pad_mode"] != "constant" or any(v is None for v in values):
        return "its input is padded by a Pad that is not constant padding with constant sizes"
    begin, end = (np.asarray(v, np.int64).reshape(-1)[[0, 3, 1, 2] if channels_last else slice(None)]
                  for v in values[:2])
    if np.any(begin[:2]) or np.any(end[:2]) or np.any(begin < 0) or np.any(end < 0):
        return "its input's Pad pads the batch or channel axis, or crops"
    if any(attributes["pads_begin"]) or any(attributes["pads_end"]):
        return "its input is padded twice (a Pad and the convolution's own padding)"
    value = float(np.asarray(value).reshape(-1)[0])
    if value not in (-1.0, 0.0, 1.0):
        return f"its sign input is padded with {value:g}; BinaryConvolution pads with -1, 0 or +1 only"
    return pad.input_value(0), value, [int(b) for b in begin[2:]], [int(e) for e in end[2:]], "explicit"


def _kernel_scale(weights):
    """alpha per output channel of (groups, out, in, kh, kw) weights of +-alpha; else a reason."""
    flat = np.abs(weights).reshape(weights.shape[0] * weights.shape[1], -1)
    scale = flat.max(axis=1)
    # A channel of zeros (a pruned filter) computes 0: any bits, scale 0.
    uniform = np.isclose(flat, scale[:, None], rtol=1e-6, atol=0) | (scale[:, None] == 0)
    if np.all(uniform):
        return scale.astype(np.float32)
    zeros = int(np.sum((flat == 0) & (scale[:, None] > 0)))
    if zeros:
        return f"its weights have {zeros} zero(s) inside output channels that are not all zero"
    return "its weights' magnitudes differ within an output channel (not +-alpha per channel)"


def binary_form(conv):
    """How a Convolution or GroupConvolution node is binary (`_BinaryForm`), or why it is not (a str)."""
    (data, channels_last), weights_output = _layout(conv.input_value(0)), conv.input_value(1)
    padding = _padding(conv, data, channels_last)
    if isinstance(padding, str):
        return padding
    sign, pad_value, pads_begin, pads_end, auto_pad = padding
    source = _sign_source(sign)
    if isinstance(source, str):
        return source
    weights = _constant(weights_output)
    if weights is None:
        return f"its weights are not a constant (they come from {_describe(weights_output)})"
    weights = np.asarray(weights, np.float32)
    if conv.get_type_name() == "Convolution":
        weights = weights[None]
    elif weights.shape[2] == 1:
        return "it is a depthwise convolution (one input channel per group), which has no binary op in OpenVINO"
    scale = _kernel_scale(weights)
    if isinstance(scale, str):
        return scale
    if pad_value == 0 and max(*pads_begin, *pads_end) > _LARGEST_PAD:
        return (f"it pads its sign input with zeros by {max(*pads_begin, *pads_end)}; the CPU plugin's "
                f"BinaryConvolution pads by at most {_LARGEST_PAD}, and a zero is no bit to pad with beforehand")
    if weights.shape[2] % 2 and pad_value == 0 and (any(pads_begin) or any(pads_end)):
        return (f"it has an odd number of input channels per group ({weights.shape[2]}) and zero padding, which "
                "BinaryConvolution on this CPU plugin cannot compute exactly")
    return _BinaryForm(source[0], source[1], pad_value, pads_begin, pads_end, auto_pad, weights, scale,
                       channels_last)


def _signature(weights):
    """`kernel_signature` of (groups, out, in, kh, kw) weights, laid out as Keras' (out, kh, kw, in)."""
    groups, out, per_group, kh, kw = weights.shape
    return kernel_signature(weights.reshape(groups * out, per_group, kh, kw).transpose(0, 2, 3, 1))


# Ops through which a tensor is still "the model input" to the CPU plugin's fusions.
_ELEMENTWISE = {"Add", "Subtract", "Multiply", "Divide", "Relu", "PRelu", "Clamp", "Minimum", "Maximum",
                "Sigmoid", "Tanh", "Elu", "Swish", "SoftPlus", "Pad", "Transpose"}


def _fed_by_model_input(source):
    """Whether `source` is a model input, or elementwise ops and transposes of one input only."""
    node = _node(source)
    while node.get_type_name() != "Parameter":
        if node.get_type_name() not in _ELEMENTWISE:
            return False
        variable = [v for v in node.input_values() if _kind(v) != "Constant"]
        if len(variable) != 1:
            return False
        node = _node(variable[0])
    return True


def _avoid_model_input(ops, source):
    """`source`, kept apart from the model input by an identity pooling where it is fed by it.

    The CPU plugin (2026.4) crashes running a BinaryConvolution whose
    FakeQuantize reads the model input through elementwise ops only.
    """
    if _fed_by_model_input(source):
        return ops.avg_pool(source, [1, 1], [0, 0], [0, 0], [1, 1], True).output(0)
    return source


class BinaryConvolutions:
    """The rewrite: every Convolution and GroupConvolution in binary form becomes a BinaryConvolution.

    Run with `apply(ir)`. Afterwards `converted` holds (kernel signature,
    [BinaryConvolution nodes]) per rewritten convolution and `refused`
    (kernel signature, reason) per convolution left float, for matching them
    with the Keras layers.
    """

    def __init__(self):
        self.converted, self.refused = [], []
        self._bits = {}  # (source node name, output index, ties) -> FakeQuantize: one per binary tensor

    def apply(self, ir):
        from openvino.passes import Manager, Matcher, MatcherPass, WrapType

        pattern = WrapType(["opset1.Convolution", "opset1.GroupConvolution"])
        rewrite = MatcherPass()
        rewrite.register_matcher(Matcher(pattern, "BinaryConvolutions"), lambda m: self._visit(m.get_match_root()))
        manager = Manager()
        manager.register_pass(rewrite)
        manager.run_passes(ir)
        return ir

    def _visit(self, conv):
        form = binary_form(conv)
        weights = _constant(conv.input_value(1))
        signature = _signature(np.asarray(weights)[None] if conv.get_type_name() == "Convolution" else weights) \
            if weights is not None else None
        if isinstance(form, str):
            self.refused.append((signature, form))
            return False
        replacement, binary = self._build(conv, form)
        conv.output(0).replace(replacement)
        self.converted.append((signature, binary))
        return True

    def _one_bit(self, ops, source, tie_to_plus):
        key = (_node(source).get_name(), source.get_index(), tie_to_plus)
        if key not in self._bits:
            threshold = np.float32(_BELOW_ZERO if tie_to_plus else 0.0)
            self._bits[key] = ops.fake_quantize(
                _avoid_model_input(ops, source), threshold, threshold, np.float32(0), np.float32(1), 2,
            ).output(0)
        return self._bits[key]

    def _build(self, conv, form):
        from openvino import opset13 as ops

        groups = len(form.weights)
        if form.channels_last:
            form = dataclasses.replace(form, source=ops.transpose(form.source, np.array(_TO_NCHW, np.int64)).output(0))
        # The groups split the float input: the CPU plugin (2026.4) crashes on a
        # BinaryConvolution that reads a Split of a FakeQuantize.
        sources = [form.source] if groups == 1 else list(ops.split(form.source, np.int64(1), groups).outputs())
        binary, outputs = [], []
        for source, weights in zip(sources, form.weights):
            node, output = self._binary_convolution(ops, conv, form, source, weights)
            binary.append(node)
            outputs.append(output)
        y = outputs[0] if groups == 1 else ops.concat(outputs, 1).output(0)
        if np.any(form.scale != 1):
            y = ops.multiply(y, ops.constant(form.scale.reshape(1, -1, 1, 1))).output(0)
        return y, binary

    def _binary_convolution(self, ops, conv, form, source, weights):
        """(BinaryConvolution node, its output corrected) of one group, input channels whole bytes.

        The CPU plugin (2026.4) computes wrong sums unless the input channels
        are a multiple of 8 (measured: 1 to 7, 12, 20, 33 channels go wrong;
        8, 16, 24, 40 do not). Extra channels fill the gap: in pairs with
        weights +1 and -1 on equal inputs, which cancel everywhere, padding
        included; an odd one with weight +1 on an input equal to the padding
        (or +1 where nothing is padded) adds kh * kw times that value, taken
        off again. Padding wider than the plugin takes is done on the float
        input, with the value whose bit is the padding's.
        """
        import openvino as ov

        attributes = conv.get_attributes()
        out, channels, kh, kw = weights.shape
        extra = -channels % 8
        fill = form.pad_value or 1.0
        offset = 0.0
        pads_begin, pads_end, auto_pad = form.pads_begin, form.pads_end, form.auto_pad
        outside = max(*pads_begin, *pads_end) > _LARGEST_PAD  # +-1 padding, done before the bits
        if extra or outside:
            begin, end = [0, 0, *(pads_begin if outside else [0, 0])], [0, extra, *(pads_end if outside else [0, 0])]
            source = ops.pad(source, np.array(begin, np.int64), np.array(end, np.int64), "constant",
                             np.float32(fill)).output(0)
            if outside:
                pads_begin, pads_end, auto_pad = [0, 0], [0, 0], "explicit"
        if extra:
            signs = np.tile([1.0, -1.0], (extra + 1) // 2)[:extra].astype(np.float32)
            weights = np.concatenate([weights, np.broadcast_to(signs[None, :, None, None], (out, extra, kh, kw))], 1)
            offset = -kh * kw * fill if extra % 2 else 0.0
        node = ops.binary_convolution(
            self._one_bit(ops, source, form.tie_to_plus), bits_constant(ov, weights), attributes["strides"],
            pads_begin, pads_end, attributes["dilations"], "xnor-popcount", form.pad_value, auto_pad,
        )
        output = node.output(0)
        if offset:
            output = ops.add(output, np.float32(offset)).output(0)
        return node, output


# -- Keras layers and their convolutions -------------------------------------------


def _keras_kernels(deployable):
    """(name, kernel signature or None, reason when None) of every binary layer of the stripped model.

    2D convolutions carry their kernel, to be found among the OpenVINO
    convolutions; other binary layers (depthwise, separable, transposed, 3D,
    dense with a float input) have no binary op in OpenVINO.
    """
    import larq as lq

    layers = {layer.name: layer for layer in flatten_layers(deployable)}
    found = []
    for binary in binary_layers(deployable):
        layer = layers[binary.name]
        if isinstance(layer, lq.layers.QuantConv2D) and not isinstance(layer, lq.layers.QuantConv2DTranspose):
            found.append((binary.name, kernel_signature(np.moveaxis(effective_kernel(layer), -1, 0)), None))
        else:
            found.append((binary.name, None, f"OpenVINO's BinaryConvolution is a 2D convolution with a binary input "
                                             f"and kernel; a {binary.kind} like this has no binary form there"))
    return found


def _match_layers(deployable, rewrite):
    """Names the BinaryConvolutions after their Keras layers; returns the (name, reason) of layers left float."""
    converted = {}
    for signature, nodes in rewrite.converted:
        converted.setdefault(signature, []).append(nodes)
    refused = dict(rewrite.refused)
    fallbacks = []
    for name, signature, reason in _keras_kernels(deployable):
        if signature is not None and converted.get(signature):
            nodes = converted[signature].pop(0)
            for index, node in enumerate(nodes):
                node.set_friendly_name(name if len(nodes) == 1 else f"{name}/group{index}")
            continue
        if reason is None:
            reason = refused.get(signature, "no convolution in OpenVINO's graph has its kernel")
        fallbacks.append((name, f"{reason}, so it would run as a float convolution"))
    return fallbacks


@dataclasses.dataclass
class _Translation:
    ir: object  # openvino.Model
    binary_layers: int
    float_fallbacks: list
    deployable: object = None  # the stripped Keras model it was made from


def _translate(model, precision, allow_float_fallback):
    check_one_of("precision", precision, PRECISIONS)
    ov = require_openvino()
    deployable = strip_pruning(model, target="openvino")
    ir = _float_graph(ov, deployable)
    rewrite = BinaryConvolutions()
    rewrite.apply(ir)
    fallbacks = _match_layers(deployable, rewrite)
    expected = len(binary_layers(deployable))
    if fallbacks and not allow_float_fallback:
        listing = "; ".join(f"layer {name}: {reason}" for name, reason in fallbacks)
        raise FloatFallbackError(
            f"{model.name}: {len(fallbacks)} of {expected} binary layers cannot become OpenVINO "
            f"BinaryConvolutions ({listing}). Pass allow_float_fallback=True to accept that",
            fallbacks,
        )
    set_precision(ir, precision)
    return _Translation(ir, expected, fallbacks, deployable)


# -- the public steps --------------------------------------------------------------


def to_openvino(model, precision="f32", allow_float_fallback=False):
    """The OpenVINO model (`openvino.Model`) of `model`, stripped first; no parity check.

    Inputs and outputs keep Keras' channels-last layout; the batch size is
    dynamic (BinaryConvolution runs only with static shapes, so
    `compile_openvino` fixes it). `precision` ("f32" or "bf16") is stored in
    the model's runtime options (`openvino_runtime.model_precision`).
    Raises `FloatFallbackError` naming each binary layer that cannot become a
    BinaryConvolution and why, unless `allow_float_fallback`.
    """
    return _translate(model, precision, allow_float_fallback).ir


@dataclasses.dataclass
class OpenVinoConversion(SavedAsIR):
    model: object  # openvino.Model
    census: dict
    parity: object  # tfbin.convert.parity.Parity
    binary_layers: int = 0  # binary layers of the stripped Keras model
    kernels: dict = dataclasses.field(default_factory=dict)  # BinaryConvolution primitive -> count
    precision: str = "f32"  # the inference precision parity was judged at, stored in the model
    float_fallbacks: list = dataclasses.field(default_factory=list)  # (layer name, reason)
    # float_layers="int8": the Keras layers that run as int8 (tfbin.convert.openvino_int8).
    int8_layers: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        return {
            "size_bytes": self.size_bytes,
            "census": self.census,
            "parity": self.parity.to_dict(),
            "binary_layers": self.binary_layers,
            "kernels": self.kernels,
            "precision": self.precision,
            "float_fallbacks": [{"layer": name, "reason": reason} for name, reason in self.float_fallbacks],
            "int8_layers": self.int8_layers,
        }


def convert_openvino(
    model,
    calibration_data=None,
    min_agreement=None,
    max_p90_rel_error=MAX_P90_REL_ERROR,
    samples=64,
    seed=0,
    allow_float_fallback=False,
    precision="f32",
    float_layers="float",
):
    """Converts `model` to OpenVINO; returns an `OpenVinoConversion` or raises `ConversionError`.

    Arguments as for `tfbin.convert.convert`: a binary layer that cannot
    become a BinaryConvolution raises `FloatFallbackError` naming it, unless
    `allow_float_fallback` (then it is listed in `float_fallbacks`).
    `precision` ("f32" or "bf16", which OpenVINO uses for float layers on
    CPUs with AVX512_BF16 or AMX) is stored in the model and used wherever
    tfbin compiles it; parity is judged at that precision.
    `float_layers="int8"` quantizes the float layers (stem, downsampling
    shortcuts, classifier) to int8 with NNCF, calibrated on
    `calibration_data`, and leaves every BinaryConvolution and its one-bit
    FakeQuantize alone (`tfbin.convert.openvino_int8`; listed in
    `int8_layers`); parity then holds the argmax agreement only
    (`min_agreement`, default 0.98; 0.99 for float layers) and reports the
    relative error.

    ```python
    import tfbin
    from tfbin import data, zoo
    from tfbin.convert import convert_openvino

    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    result = convert_openvino(model, calibration_data=data.digits_arrays().x_test[:100])
    result.census["BinaryConvolution"], result.parity.argmax_agreement
    ```
    """
    check_one_of("float_layers", float_layers, FLOAT_LAYERS)
    translation = _translate(model, precision, allow_float_fallback)
    ir = translation.ir
    x = _calibration_inputs(model, calibration_data, samples, seed)
    int8_layers = []
    if float_layers == "int8":
        from tfbin.convert import int8, openvino_int8

        int8.require_calibration(model, calibration_data)
        ir, int8_layers = openvino_int8.int8_float_layers(model, translation.deployable, ir, x, precision)
        parity = openvino_int8.check_int8_openvino_parity(model, ir, x, min_agreement)
    else:
        parity = check_openvino_parity(model, ir, x, MIN_AGREEMENT if min_agreement is None else min_agreement,
                                       max_p90_rel_error)
    census = ir_census(ir)
    converted = translation.binary_layers - len(translation.float_fallbacks)
    if census.get("BinaryConvolution", 0) < converted:
        raise ConversionError(
            f"{model.name}: {converted} binary layers were converted but the model holds "
            f"{census.get('BinaryConvolution', 0)} BinaryConvolution ops"
        )
    return OpenVinoConversion(
        model=ir, census=census, parity=parity, binary_layers=translation.binary_layers,
        kernels=kernels(compile_openvino(ir, threads=1)), precision=model_precision(ir),
        float_fallbacks=translation.float_fallbacks, int8_layers=int8_layers,
    )


def check_openvino_parity(model, ir, x, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
    """Parity of the OpenVINO model `ir`, at its stored precision, with the Keras `model` on `x` (`judge_parity`)."""
    try:
        candidate = openvino_predict(ir, x)
    except RuntimeError as error:
        raise ConversionError(f"{model.name}: OpenVINO cannot run the converted model: {error}") from error
    reference = model.predict(x, verbose=0, batch_size=32)
    return judge_parity(model, x, flat_outputs(reference), flat_outputs(candidate), min_agreement, max_p90_rel_error,
                        f"OpenVINO ({model_precision(ir)})")
