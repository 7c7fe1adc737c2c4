"""The OpenVINO target: BinaryConvolution's conventions, the rewrite of the frontend's graph, refusals, CLI.

Networks are written the way users write them, from plain larq layers, and
every zoo builder is converted at a tiny size; each must keep its parity with
Keras and turn every binary layer into a BinaryConvolution.
"""
import json
import os
import sys

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import digits, run_cli, tiny_net

from tfbin import cost, stq, zoo
from tfbin.convert import ConversionError, FloatFallbackError, ParityError, bench, convert_openvino, to_openvino
from tfbin.convert.fallback import binary_layers
from tfbin.convert import openvino_converter as ov_convert
from tfbin.convert import openvino_runtime as runtime
from tfbin.convert.openvino_baselines import openvino_baseline
from tfbin.pruning import strip_pruning
from tfbin.quantizers import ShiftedSign
from tfbin.testing import realistic_weights

import openvino as ov  # noqa: E402  (the test install has the openvino extra: .ci/run)
from openvino import opset13 as ops  # noqa: E402


def reference_conv(x_pm, kernel_pm, pad, pad_pm, stride=1):
    """Float convolution of +-1 NCHW input with +-1 OIHW kernel, the border filled with pad_pm."""
    padded = np.pad(x_pm, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=pad_pm)
    nhwc = tf.constant(padded.transpose(0, 2, 3, 1), tf.float32)
    hwio = tf.constant(kernel_pm.transpose(2, 3, 1, 0), tf.float32)
    return tf.nn.conv2d(nhwc, hwio, stride, "VALID").numpy().transpose(0, 3, 1, 2)


def run_ir(outputs, parameter, x):
    compiled = ov.Core().compile_model(ov.Model(outputs, [parameter]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(x)[0]


def raw_binary_conv(bits, kernel_pm, constant, pad, pad_value, stride=1):
    parameter = ops.parameter(list(bits.shape), np.float32)
    y = ops.binary_convolution(parameter, constant, [stride] * 2, [pad] * 2, [pad] * 2, [1, 1], "xnor-popcount",
                               pad_value)
    return run_ir([y], parameter, bits)


@pytest.fixture(scope="module")
def bits_and_kernel():
    rng = np.random.default_rng(0)
    kernel = np.where(rng.random((16, 40, 3, 3)) < 0.5, -1.0, 1.0).astype(np.float32)  # 40: not a multiple of 8
    bits = (rng.random((1, 40, 7, 7)) < 0.5).astype(np.float32)
    return bits, kernel


def test_weights_are_packed_least_significant_bit_first_and_bit_one_is_plus_one(bits_and_kernel):
    bits, kernel = bits_and_kernel
    expected = reference_conv(2 * bits - 1, kernel, 0, 0.0)  # input bit 0 is -1, 1 is +1
    got = raw_binary_conv(bits, kernel, runtime.bits_constant(ov, kernel), 0, 1.0)
    np.testing.assert_array_equal(got, expected)
    # Most significant bit first, or OpenVINO's own u1 constant from an array, compute something else.
    msb = ov.op.Constant(ov.Tensor(np.packbits((kernel > 0).reshape(-1).astype(np.uint8)), ov.Shape(kernel.shape),
                                   ov.Type.u1), shared_memory=False)
    assert np.abs(raw_binary_conv(bits, kernel, msb, 0, 1.0) - expected).max() > 10
    own = ops.constant(kernel > 0, dtype=ov.Type.u1)
    assert np.abs(raw_binary_conv(bits, kernel, own, 0, 1.0) - expected).max() > 10


@pytest.mark.parametrize("pad_value, filled_with", [(1.0, 1.0), (-1.0, -1.0), (0.0, 0.0)])
def test_pad_value_is_the_value_of_the_padded_input(bits_and_kernel, pad_value, filled_with):
    bits, kernel = bits_and_kernel
    got = raw_binary_conv(bits, kernel, runtime.bits_constant(ov, kernel), 1, pad_value)
    np.testing.assert_array_equal(got, reference_conv(2 * bits - 1, kernel, 1, filled_with))


def single_conv_model(pad_values=1.0, strides=1, padding="same", threshold=0.0, filters=24, channels=40,
                      use_bias=True):
    inputs = tf.keras.Input((9, 9, channels))
    layer = lq.layers.QuantConv2D(
        filters, 3, strides=strides, padding=padding, pad_values=pad_values, use_bias=use_bias,
        input_quantizer=ShiftedSign(threshold) if threshold else "ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", name="bconv",
    )
    model = tf.keras.Model(inputs, layer(inputs), name="single")
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-1, 1, (3, 3, channels, filters)).astype(np.float32)]
    if use_bias:
        weights.append(rng.normal(0, 1, filters).astype(np.float32))
    layer.set_weights(weights)
    return model


def inputs_with_ties(threshold, channels=40, samples=4):
    """Standard-normal inputs with whole rows exactly on the threshold (larq maps those to +1)."""
    x = np.random.default_rng(2).standard_normal((samples, 9, 9, channels)).astype(np.float32)
    x[:, 3, :, :] = threshold
    x[:, :, 5, ::2] = threshold
    return x


@pytest.mark.parametrize(
    "pad_values, strides, padding, threshold, channels",
    [(1.0, 1, "same", 0.0, 40), (-1.0, 2, "same", 0.0, 40), (0.0, 1, "same", 0.0, 40), (1.0, 2, "valid", 0.0, 40),
     (1.0, 1, "same", 0.37, 40), (0.0, 2, "same", -0.5, 40),
     # Input channels that are not a multiple of 8, which the CPU plugin gets wrong unless filled up.
     (1.0, 1, "same", 0.0, 3), (-1.0, 2, "same", 0.2, 5), (0.0, 1, "same", 0.0, 12), (0.0, 1, "valid", 0.0, 7)],
)
def test_a_larq_binary_convolution_becomes_one_binary_convolution_with_the_same_outputs(
    pad_values, strides, padding, threshold, channels
):
    model = single_conv_model(pad_values, strides, padding, threshold, channels=channels)
    ir = to_openvino(model)
    assert runtime.ir_census(ir)["BinaryConvolution"] == 1
    x = inputs_with_ties(threshold, channels)
    expected = model.predict(x, verbose=0)
    # Integer sums times one scale per channel plus a bias: equal up to one float rounding.
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), expected, rtol=1e-6, atol=1e-5)


# -- networks written the way users write them -----------------------------------------

BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              pad_values=1.0, padding="same", use_bias=False)
layers = tf.keras.layers


def bconv(filters, kernel_size=3, **kwargs):
    return lq.layers.QuantConv2D(filters, kernel_size, **{**BINARY, **kwargs})


def bn(x):
    return layers.BatchNormalization()(x)


def stem(inputs, filters=16):
    return bn(layers.Conv2D(filters, 3, padding="same")(inputs))


def head(x):
    return layers.Dense(10)(layers.GlobalAveragePooling2D()(x))


def residual_plus(inputs):
    """Residual blocks written `x + y` (Keras records TFOpLambda add ops)."""
    x = stem(inputs)
    for _ in range(2):
        x = x + bn(bconv(16)(x))
    return head(x), 2


def lambda_and_groups(inputs):
    """A float Lambda block, a grouped convolution from tf.split inside a Lambda, and larq's groups=2."""
    x = stem(inputs)
    x = layers.Lambda(lambda t: t - tf.reduce_mean(t, axis=[1, 2], keepdims=True))(x)
    first, second = layers.Lambda(lambda t: tf.split(t, 2, axis=-1))(x)
    x = x + bn(layers.Concatenate()([bconv(8)(first), bconv(8)(second)]))
    x = x + bn(bconv(16, groups=2)(x))
    return head(x), 3


def dense_concatenation(inputs):
    """DenseNet-style growth: each binary layer's output joins its input."""
    x = stem(inputs)
    for _ in range(2):
        x = layers.Concatenate()([x, bn(bconv(8)(x))])
    return head(x), 2


def binary_max_pooling(inputs):
    """Max pooling between binary layers (LCE's BMaxPool2d pattern)."""
    x = stem(inputs)
    x = layers.MaxPooling2D(2)(bn(bconv(16)(x)))
    return head(bn(bconv(16)(x))), 2


def xnor_scaled_signs(inputs):
    """XNOR-Net: kernels scaled by their mean magnitude, outputs by the input's mean magnitude K."""
    x = stem(inputs)
    for _ in range(2):
        k = layers.AveragePooling2D(3, 1, padding="same")(
            layers.Lambda(lambda t: tf.reduce_mean(tf.abs(t), axis=-1, keepdims=True))(x))
        y = bconv(16, kernel_quantizer="magnitude_aware_sign", kernel_constraint=None)(x)
        x = bn(layers.Multiply()([y, k]))
    return head(x), 2


def bi_real_shortcuts(inputs):
    """Bi-Real Net: a shortcut around every binary convolution, float downsampling on the strided one."""
    x = stem(inputs)
    x = x + bn(bconv(16)(x))
    shortcut = bn(layers.Conv2D(32, 1)(layers.AveragePooling2D(2)(x)))
    x = shortcut + bn(bconv(32, strides=2)(x))
    x = x + bn(bconv(32, dilation_rate=2)(x))
    return head(x), 3


def user_net(build, seed=0):
    inputs = tf.keras.Input((8, 8, 3))
    outputs, binary = build(inputs)
    x = np.random.default_rng(seed).standard_normal((48, 8, 8, 3)).astype(np.float32)
    model = realistic_weights(tf.keras.Model(inputs, outputs, name=build.__name__), x[:32], seed=seed)
    return model, x[32:], binary


def assert_fully_binary(result, binary):
    """Every binary layer a BinaryConvolution, and the outputs those of Keras."""
    assert result.binary_layers == binary and not result.float_fallbacks
    assert result.census["BinaryConvolution"] >= binary
    assert result.parity.argmax_agreement == 1.0 and result.parity.p90_rel_error < 1e-4


@pytest.mark.parametrize(
    "build", [residual_plus, lambda_and_groups, dense_concatenation, binary_max_pooling, xnor_scaled_signs,
              bi_real_shortcuts],
)
def test_networks_written_by_hand_convert_with_every_binary_layer_binary(build):
    model, x, binary = user_net(build)
    result = convert_openvino(model, calibration_data=x)
    assert_fully_binary(result, binary)
    # One BinaryConvolution per binary layer, or per group of a grouped one.
    groups = sum(layer.groups for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D))
    assert result.census["BinaryConvolution"] == groups
    assert "Convolution" not in result.census or result.census["Convolution"] <= 2  # the stem, a downsampling
    assert sum(result.kernels.values()) == groups and all(k.endswith("_u1") for k in result.kernels)
    names = {node.get_friendly_name() for node in result.model.get_ordered_ops()
             if node.get_type_name() == "BinaryConvolution"}
    assert {name.split("/")[0] for name in names} == {
        layer.name for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)}


# -- every zoo builder, tiny ----------------------------------------------------------------

ZOO = {
    "digits_resnet": (lambda **s: zoo.digits_resnet(width=8, **s), (8, 8, 1)),
    "residual_net": (lambda **s: zoo.residual_net((8, 8, 1), 10, [(8, 1, 1), (16, 1, 2)], block="basic", **s),
                     (8, 8, 1)),
    "resnet20": (lambda **s: zoo.resnet20((16, 16, 3), 10, width=4, **s), (16, 16, 3)),
    "resnet56": (lambda **s: zoo.resnet56((8, 8, 3), 10, width=4, **s), (8, 8, 3)),
    "resnet18": (lambda **s: zoo.resnet18((32, 32, 3), 10, width=4, **s), (32, 32, 3)),
    "resnet34": (lambda **s: zoo.resnet34((32, 32, 3), 10, width=4, **s), (32, 32, 3)),
    "resnet50": (lambda **s: zoo.resnet50((32, 32, 3), 10, width=4, **s), (32, 32, 3)),
    "vgg_small": (lambda **s: zoo.vgg_small((16, 16, 3), 10, width=8, **s), (16, 16, 3)),
    "deeplab": (lambda **s: zoo.deeplab((64, 64, 3), num_classes=5, width=4, aspp_filters=8, low_level_filters=4,
                                        decoder_filters=8, **s), (64, 64, 3)),
}


def zoo_case(name, seed=0, **scheme):
    build, shape = ZOO[name]
    x = np.random.default_rng(seed).standard_normal((40, *shape)).astype(np.float32)
    model = realistic_weights(build(**scheme), x[:24], seed=seed)
    return model, x[24:]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_builder_converts_with_every_binary_layer_binary(name):
    model, x = zoo_case(name)
    result = convert_openvino(model, calibration_data=x)
    assert_fully_binary(result, len(binary_layers(strip_pruning(model))))
    assert result.binary_layers > 0 and result.census["BinaryConvolution"] == result.binary_layers


@pytest.mark.parametrize(
    "scheme",
    [dict(conv="mbn", weight_bases=2, activation_bases=3), dict(conv="snn", tau=4), dict(conv="irnet")],
    ids=["multi-base", "sub-bit", "ir-net"],
)
def test_exported_kinds_of_binary_layer_become_binary_convolutions(scheme):
    model, x = zoo_case("digits_resnet", **scheme)
    result = convert_openvino(model, calibration_data=x)
    assert_fully_binary(result, len(binary_layers(strip_pruning(model))))


def test_an_stq_shrunk_model_is_fully_binary():
    model = stq.with_masks(zoo.digits_resnet(width=16, block="basic"))
    realistic_weights(model, digits().x_train[:256])
    stq.prune_filters(model, 0.5)
    realistic_weights(model, digits().x_train[:256])
    result = convert_openvino(model, calibration_data=digits().x_test[:64])
    assert_fully_binary(result, 4)


# -- the small model, end to end --------------------------------------------------------


@pytest.mark.parametrize("pad_values", [1.0, -1.0])
def test_padding_wider_than_the_plugin_takes_is_done_before_the_bits(pad_values):
    inputs = tf.keras.Input((9, 9, 16))
    layer = bconv(8, dilation_rate=6, pad_values=pad_values, name="wide")  # pads of 6 on each side
    model = tf.keras.Model(inputs, layer(inputs), name="wide")
    ir = to_openvino(model)
    assert runtime.ir_census(ir)["BinaryConvolution"] == 1
    x = inputs_with_ties(0.0, 16)
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), model.predict(x, verbose=0), rtol=1e-6, atol=1e-5)
    # Zero padding has no bit: refused, where strip_pruning does not emulate it (kernel within the input).
    larger = tf.keras.Input((16, 16, 16))
    zero = tf.keras.Model(larger, bconv(8, dilation_rate=6, pad_values=0.0, name="widezero")(larger))
    with pytest.raises(FloatFallbackError, match="widezero: it pads its sign input with zeros by 6"):
        to_openvino(zero)


@pytest.fixture(scope="module")
def bnn():
    model = tiny_net("bnn")
    return model, convert_openvino(model, calibration_data=digits().x_test[:200])


def test_small_model_converts_with_parity_and_binary_kernels(bnn, tmp_path):
    model, result = bnn
    assert result.census["BinaryConvolution"] == result.binary_layers == 2
    assert result.census["Convolution"] == 2  # the stem and the downsampling shortcut
    assert result.parity.argmax_agreement == 1.0 and result.parity.p90_rel_error < 1e-5
    assert sum(result.kernels.values()) == 2 and all(k.endswith("_u1") for k in result.kernels)
    assert result.precision == "f32"
    path = tmp_path / "model.xml"
    result.save(str(path))
    assert (tmp_path / "model.bin").exists() and result.size_bytes == path.stat().st_size + (tmp_path / "model.bin").stat().st_size
    x = digits().x_test[:50]
    np.testing.assert_allclose(
        runtime.openvino_predict(runtime.read_ir(str(path)), x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )


def test_the_model_takes_any_batch_size(bnn):
    model, result = bnn
    assert all(p.get_partial_shape()[0].is_dynamic for p in result.model.get_parameters())
    x = digits().x_test[:7]
    one_by_one = runtime.openvino_predict(result.model, x, batch_size=1)
    np.testing.assert_array_equal(runtime.openvino_predict(result.model, x, batch_size=7), one_by_one)
    assert bench.time_openvino(result.model, runs=2, warmup=0, batch=4).batch == 4


def test_cost_of_the_ir_follows_tfbin_cost(bnn):
    model, result = bnn
    expected = cost.model_cost(model)
    assert runtime.ir_cost(result.model)["bit_ops"] == expected.bit_ops
    assert runtime.ir_cost(result.model)["flops"] == expected.flops


def _runs_bf16():
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_precision_is_stored_in_the_model_and_can_be_overridden(bnn, tmp_path):
    model, f32 = bnn
    # Binary nets amplify bf16 rounding in their float layers: parity is judged at bf16, with a looser tolerance.
    result = convert_openvino(model, calibration_data=digits().x_test[:200], precision="bf16", min_agreement=0.9,
                              max_p90_rel_error=0.3)
    assert result.precision == "bf16" == runtime.model_precision(result.model)
    if _runs_bf16():
        assert result.parity.p90_rel_error > 10 * f32.parity.p90_rel_error
    path = tmp_path / "bf16.xml"
    result.save(str(path))
    assert runtime.model_precision(runtime.read_ir(str(path))) == "bf16"
    # What ran: bf16 where the CPU has it, else the plugin's float32.
    assert bench.time_openvino(str(path), runs=2, warmup=0).precision == ("bf16" if _runs_bf16() else "f32")
    assert bench.time_openvino(str(path), runs=2, warmup=0, precision="f32").precision == "f32"
    with pytest.raises(ValueError, match="precision"):
        to_openvino(model, precision="f16")


@pytest.mark.parametrize("weight_bases, activation_bases, dead", [(2, 2, 0), (3, 2, 3)])
def test_multi_base_layers_give_one_binary_convolution_per_live_activation_base(weight_bases, activation_bases, dead):
    model = tiny_net("mbn", weight_bases, activation_bases, seed=5)
    layers_ = [layer for layer in model.layers if hasattr(layer, "live_pairs")]
    mask = np.ones((weight_bases, activation_bases), np.float32)
    mask.reshape(-1)[:dead] = 0.0
    layers_[0].mask.assign(mask)
    result = convert_openvino(model, calibration_data=digits().x_test[:200])
    # The export stacks a layer's live weight bases along the outputs of one
    # convolution per activation base (the thresholds of realistic weights differ).
    assert result.census["BinaryConvolution"] == sum(len({n for _, n in layer.live_pairs()}) for layer in layers_)
    assert result.census["BinaryConvolution"] < 2 * weight_bases * activation_bases - dead
    assert result.parity.argmax_agreement == 1.0 and result.parity.p90_rel_error < 1e-5


def _model(layer, shape=(8, 8, 32)):
    inputs = tf.keras.Input(shape)
    return tf.keras.Model(inputs, layer(inputs), name="refused")


def test_a_pruned_output_channel_of_zeros_is_a_binary_convolution_with_scale_zero():
    layer = lq.layers.QuantConv2D(24, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", name="bconv")
    pruned = _model(layer, (9, 9, 40))
    rng = np.random.default_rng(3)
    kernel = np.sign(rng.standard_normal((3, 3, 40, 24))).astype(np.float32) * 0.5
    kernel[..., 3] = 0.0
    layer.set_weights([kernel, rng.normal(0, 1, 24).astype(np.float32)])
    x = inputs_with_ties(0.0)
    ir = to_openvino(pruned)
    assert runtime.ir_census(ir)["BinaryConvolution"] == 1
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), pruned.predict(x, verbose=0), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [lambda: layers.ZeroPadding2D(((1, 0), (0, 1))), lambda: layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
     lambda: layers.PReLU(shared_axes=[1, 2]), lambda: layers.Conv2D(16, 1, groups=2, use_bias=False),
     lambda: layers.ReLU(max_value=6.0), lambda: layers.LeakyReLU(0.2), lambda: layers.LayerNormalization(),
     lambda: layers.UpSampling2D(), lambda: layers.Conv2DTranspose(8, 3, strides=2)],
    ids=["zero-padding", "depthwise", "prelu", "grouped", "relu6", "leaky-relu", "layer-norm", "upsampling",
         "transposed"],
)
def test_float_layers_keep_their_outputs(make):
    inputs = tf.keras.Input((9, 9, 3))
    y = make()(layers.Conv2D(8, 3, strides=2, padding="same")(inputs))
    model = tf.keras.Model(inputs, layers.Dense(6)(layers.GlobalMaxPooling2D()(y)), name="float_layers")
    x = np.random.default_rng(4).standard_normal((8, 9, 9, 3)).astype(np.float32)
    realistic = realistic_weights(model, x)
    ir = to_openvino(realistic)
    assert "BinaryConvolution" not in runtime.ir_census(ir)
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), realistic.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_float_layers_together_keep_their_outputs():
    # The ZeroPadding2D before a "same" Conv2D once lost the convolution's padding in OpenVINO's PadFusion.
    inputs = tf.keras.Input((9, 9, 3))
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    a = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    a = layers.BatchNormalization()(layers.PReLU(shared_axes=[1, 2])(a))
    b = layers.Conv2D(16, 1, groups=2, use_bias=False)(layers.LeakyReLU(0.2)(x))
    y = layers.Concatenate()([layers.ReLU(max_value=6.0)(a), layers.Activation("tanh")(b)])
    y = layers.UpSampling2D()(layers.LayerNormalization()(y))
    y = layers.Conv2DTranspose(8, 3, strides=2)(y)
    outputs = layers.Softmax()(layers.Dense(6)(layers.GlobalMaxPooling2D()(y)))
    model = tf.keras.Model(inputs, outputs, name="float_layers")
    x = np.random.default_rng(4).standard_normal((8, 9, 9, 3)).astype(np.float32)
    realistic = realistic_weights(model, x)
    ir = to_openvino(realistic)
    assert "BinaryConvolution" not in runtime.ir_census(ir)
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), realistic.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make, shape",
    [(lambda i: layers.Conv1D(4, 3, strides=2, padding="same")(layers.ZeroPadding1D((2, 1))(i)), (11, 3)),
     (lambda i: layers.Conv2D(4, 3, dilation_rate=2, padding="same")(layers.ZeroPadding2D(((1, 0), (0, 1)))(i)),
      (9, 9, 3)),
     (lambda i: layers.SeparableConv2D(4, 3, strides=2, padding="same")(layers.ZeroPadding2D(1)(i)), (8, 8, 3))],
    ids=["conv1d-strided", "conv2d-dilated", "separable-strided"],
)
def test_zero_padding_before_a_same_convolution_keeps_both(make, shape):
    inputs = tf.keras.Input(shape)
    model = tf.keras.Model(inputs, make(inputs))
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
    got = runtime.openvino_predict(to_openvino(model), x)
    want = model.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _model(lq.layers.QuantConv2D(8, 3, padding="same", pad_values=0.5, input_quantizer="ste_sign",
                                              kernel_quantizer="ste_sign", name="halfpad")),
         "layer halfpad: its sign input is padded with 0.5"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign",
                                              name="heavy")), "layer heavy: its input is a plain sign of Relu"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", name="halfbinary")),
         "layer halfbinary: its weights' magnitudes differ within an output channel"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign", name="floatinput")),
         "layer floatinput: its input is not a sign"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer="ste_sign",
                                              kernel_quantizer="ste_sign", name="oddzero"), (8, 8, 3)),
         "layer oddzero: it has an odd number of input channels per group \\(3\\) and zero padding"),
        (lambda: _model(lq.layers.QuantDepthwiseConv2D(3, input_quantizer="ste_sign", depthwise_quantizer="ste_sign",
                                                       name="depthwise")),
         "layer depthwise: .*QuantDepthwiseConv2D"),
    ],
)
def test_a_binary_layer_that_cannot_be_binary_is_refused_naming_the_condition(make, message):
    model = make()
    with pytest.raises(FloatFallbackError, match=message) as caught:
        to_openvino(model)
    assert [name for name, _ in caught.value.layers] == [model.layers[1].name]
    ir = to_openvino(model, allow_float_fallback=True)
    assert "BinaryConvolution" not in runtime.ir_census(ir)


def test_float_fallbacks_are_listed_when_allowed():
    inputs = tf.keras.Input((8, 8, 16))
    x = bn(lq.layers.QuantConv2D(16, 3, padding="same", kernel_quantizer="ste_sign", name="binary_weights")(inputs))
    x = bn(bconv(16, name="binary")(x))
    model = realistic_weights(tf.keras.Model(inputs, head(x), name="mixed"),
                              np.random.default_rng(0).standard_normal((16, 8, 8, 16)).astype(np.float32))
    x = np.random.default_rng(1).standard_normal((16, 8, 8, 16)).astype(np.float32)
    result = convert_openvino(model, calibration_data=x, allow_float_fallback=True)
    assert [name for name, _ in result.float_fallbacks] == ["binary_weights"]
    assert result.binary_layers == 2 and result.census["BinaryConvolution"] == 1
    assert result.to_dict()["float_fallbacks"][0]["reason"].startswith("its input is not a sign")


def test_a_model_without_fixed_input_sizes_is_refused():
    with pytest.raises(ConversionError, match="fixed input shape"):
        to_openvino(_model(tf.keras.layers.Conv2D(8, 3, name="anysize"), (None, None, 3)))


def test_a_binary_dense_layer_becomes_a_binary_convolution_with_the_same_outputs():
    layer = lq.layers.QuantDense(10, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="bdense")
    model = _model(layer, (64,))
    x = np.random.default_rng(1).standard_normal((16, 64)).astype(np.float32)
    result = convert_openvino(model, calibration_data=x)
    assert result.census["BinaryConvolution"] == 1 and result.parity.argmax_agreement == 1.0
    np.testing.assert_allclose(runtime.openvino_predict(result.model, x), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-4)


def test_zeros_inside_a_binary_channel_are_refused():
    layer = lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", name="holes")
    model = _model(layer)
    kernel = np.sign(np.random.default_rng(0).standard_normal((3, 3, 32, 8))).astype(np.float32)
    kernel[0, 0, 0, 0] = 0.0
    layer.set_weights([kernel, np.zeros(8, np.float32)])
    with pytest.raises(FloatFallbackError, match="holes: its weights have 1 zero"):
        to_openvino(model)


def test_a_wrong_conversion_fails_parity(monkeypatch):
    model = tiny_net("bnn", seed=3)

    def msb_first(ov_module, kernel):  # the packing order that computes something else
        packed = np.packbits((kernel > 0).reshape(-1).astype(np.uint8))
        return ov_module.op.Constant(ov_module.Tensor(packed, ov_module.Shape(kernel.shape), ov_module.Type.u1),
                                     shared_memory=False)

    monkeypatch.setattr(ov_convert, "bits_constant", msb_first)
    with pytest.raises(ParityError, match=r"the OpenVINO \(f32\) model disagrees with Keras") as caught:
        convert_openvino(model, calibration_data=digits().x_test[:100])
    assert caught.value.parity.p90_rel_error > 0.05


def test_missing_openvino_names_the_extra(monkeypatch):
    runtime._checked_openvino.cache_clear()
    monkeypatch.setitem(sys.modules, "openvino", None)
    try:
        with pytest.raises(runtime.OpenVinoUnavailableError, match=r'pip install "tfbin\[openvino\]"'):
            to_openvino(tiny_net("bnn"))
    finally:
        runtime._checked_openvino.cache_clear()


def test_an_openvino_without_binary_convolution_is_refused(monkeypatch):
    from openvino import opset1

    runtime._checked_openvino.cache_clear()
    monkeypatch.delattr(opset1, "binary_convolution")
    try:
        with pytest.raises(runtime.OpenVinoUnavailableError, match=f"no BinaryConvolution.*openvino=={runtime.OPENVINO_VERSION}"):
            runtime.require_openvino()
    finally:
        runtime._checked_openvino.cache_clear()


def test_float_and_int8_baselines():
    model = tiny_net("bnn", seed=4)
    x = digits().x_test[:100]
    fp32 = openvino_baseline("float", model, x)
    assert "BinaryConvolution" not in fp32.census and fp32.census["Convolution"] == 4
    assert fp32.parity.argmax_agreement == 1.0
    int8 = openvino_baseline("int8", model, x)
    assert int8.census["FakeQuantize"] >= 4 and "BinaryConvolution" not in int8.census
    assert 0 < int8.parity.argmax_agreement <= 1.0
    assert runtime.model_precision(int8.model) == "f32"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("openvino cli")
    path = directory / "mbn.keras"
    tiny_net("mbn", 2, 1).save(path)
    return directory, path


def test_convert_command_targets_openvino_and_bench_times_it(saved, capsys):
    directory, model = saved
    out = directory / "model.xml"
    status, stdout, err = run_cli(capsys, "convert", model, "--target", "openvino", "-o", out,
                                  "--calibration", "digits", "--samples", "100", "--baseline", "float", "--json")
    assert status == 0, err
    summary = json.loads(stdout)
    # Two MBN 2/1 layers: one BinaryConvolution per activation base, its two weight bases stacked.
    assert summary["target"] == "openvino" and summary["census"]["BinaryConvolution"] == 2
    assert summary["parity"]["argmax_agreement"] == 1.0 and summary["parity"]["samples"] == 100
    assert summary["precision"] == "f32" and summary["float_fallbacks"] == []
    assert summary["size_bytes"] == out.stat().st_size + (directory / "model.bin").stat().st_size
    assert summary["baselines"]["float"]["output"] == str(directory / "model.float.xml")
    plot = directory / "latency.png"
    status, stdout, err = run_cli(capsys, "bench", out, directory / "model.float.xml", "--engine", "openvino",
                                  "--runs", "3", "--warmup", "1", "--json", "--plot", plot, "--batch", "4")
    assert status == 0, err
    report = json.loads(stdout)
    assert report["engine"] == "openvino" and report["threads"] == 1
    binary, fp32 = report["models"]
    assert binary["census"]["BinaryConvolution"] == 2 and binary["bit_ops"] > 0 and binary["latency_ms"] > 0
    assert binary["precision"] == "f32" and binary["batch"] == 4 and binary["images_per_s"] > 0
    assert fp32["bit_ops"] == 0 and fp32["flops"] > binary["flops"]
    assert plot.stat().st_size > 0
    status, stdout, err = run_cli(capsys, "bench", out, "--engine", "openvino", "--runs", "2", "--warmup", "0",
                                  "--batch", "2", "--precision", "f32")
    assert status == 0 and "host (openvino)" in stdout and "model.xml" in stdout
    assert "img/s @2" in stdout and "precision" in stdout


def test_convert_command_writes_bf16_models(saved, capsys):
    directory, model = saved
    out = directory / "model.bf16.xml"
    status, stdout, err = run_cli(capsys, "convert", model, "--target", "openvino", "-o", out,
                                  "--calibration", "digits", "--samples", "64", "--precision", "bf16",
                                  "--min-agreement", "0.8", "--max-rel-error", "0.3")
    assert status == 0, err
    assert "precision: bf16" in stdout
    assert runtime.model_precision(runtime.read_ir(str(out))) == "bf16"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--target", "openvino", "-o", "{dir}/m.tflite"], "--target openvino writes a .xml file"),
        (["-o", "{dir}/m.tflite", "--precision", "bf16"], "--precision is for --target openvino"),
    ],
)
def test_convert_target_argument_errors(saved, capsys, argv, message):
    directory, model = saved
    argv = [a.format(dir=directory) for a in argv]
    status, _, err = run_cli(capsys, "convert", model, *argv)
    assert status == 2 and message in err


def test_bench_engine_argument_errors(tmp_path, capsys):
    xml = tmp_path / "model.xml"
    xml.write_text("<net/>")
    status, _, err = run_cli(capsys, "bench", xml)
    assert status == 2 and "--engine openvino" in err
    status, _, err = run_cli(capsys, "bench", xml, "--engine", "openvino", "--ssh", "pi@host",
                             "--remote-python", "/usr/bin/python3")
    assert status == 2 and "this host only" in err
    status, _, err = run_cli(capsys, "bench", xml, "--engine", "openvino")
    assert status == 2 and "model.bin" in err and "missing" in err
    status, _, err = run_cli(capsys, "bench", os.path.join(tmp_path, "missing.xml"), "--engine", "openvino")
    assert status == 2 and "missing.xml" in err
    status, _, err = run_cli(capsys, "bench", tmp_path / "m.tflite", "--batch", "4")
    assert status == 2 and "--batch and --precision are for --engine openvino" in err
