"""The OpenVINO target: BinaryConvolution's conventions against float references, conversion, refusals, CLI."""
import json
import os
import sys

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import digits, run_cli, tiny_net

from tfbin import cost
from tfbin.convert import ConversionError, ParityError, convert_openvino, to_openvino
from tfbin.convert import openvino_converter as ov_convert
from tfbin.convert import openvino_runtime as runtime
from tfbin.convert.openvino_baselines import openvino_baseline
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
    "pad_values, strides, padding, threshold",
    [(1.0, 1, "same", 0.0), (-1.0, 2, "same", 0.0), (0.0, 1, "same", 0.0), (1.0, 2, "valid", 0.0),
     (1.0, 1, "same", 0.37), (0.0, 2, "same", -0.5)],
)
def test_a_larq_binary_convolution_becomes_one_binary_convolution_with_the_same_outputs(
    pad_values, strides, padding, threshold
):
    model = single_conv_model(pad_values, strides, padding, threshold)
    ir = to_openvino(model)
    assert runtime.ir_census(ir)["BinaryConvolution"] == 1
    x = inputs_with_ties(threshold)
    expected = model.predict(x, verbose=0)
    # Integer sums times one scale per channel plus a bias: equal up to one float rounding.
    np.testing.assert_allclose(runtime.openvino_predict(ir, x), expected, rtol=1e-6, atol=1e-5)


@pytest.fixture(scope="module")
def bnn():
    model = tiny_net("bnn")
    return model, convert_openvino(model, calibration_data=digits().x_test[:200])


def test_small_model_converts_with_parity_and_binary_kernels(bnn, tmp_path):
    model, result = bnn
    assert result.census["BinaryConvolution"] == result.binary_layers == 2
    assert result.census["Convolution"] == 2  # the stem and the downsampling shortcut
    # BatchNorm folded: one multiply (scale) and no extra add per binary convolution beyond its bias.
    assert result.census["Multiply"] == 2
    assert result.parity.argmax_agreement == 1.0 and result.parity.p90_rel_error < 1e-5
    assert sum(result.kernels.values()) == 2 and all(k.endswith("_u1") for k in result.kernels)
    path = tmp_path / "model.xml"
    result.save(str(path))
    assert (tmp_path / "model.bin").exists() and result.size_bytes == path.stat().st_size + (tmp_path / "model.bin").stat().st_size
    x = digits().x_test[:50]
    np.testing.assert_allclose(
        runtime.openvino_predict(runtime.read_ir(str(path)), x), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )


def test_cost_of_the_ir_follows_tfbin_cost(bnn):
    model, result = bnn
    expected = cost.model_cost(model)
    assert runtime.ir_cost(result.model)["bit_ops"] == expected.bit_ops
    assert runtime.ir_cost(result.model)["flops"] == expected.flops


@pytest.mark.parametrize("weight_bases, activation_bases, dead", [(2, 2, 0), (3, 2, 3)])
def test_multi_base_layers_give_one_binary_convolution_per_live_activation_base(weight_bases, activation_bases, dead):
    model = tiny_net("mbn", weight_bases, activation_bases, seed=5)
    layers = [layer for layer in model.layers if hasattr(layer, "live_pairs")]
    mask = np.ones((weight_bases, activation_bases), np.float32)
    mask.reshape(-1)[:dead] = 0.0
    layers[0].mask.assign(mask)
    result = convert_openvino(model, calibration_data=digits().x_test[:200])
    # The export stacks a layer's live weight bases along the outputs of one
    # convolution per activation base (the thresholds of realistic weights differ).
    assert result.census["BinaryConvolution"] == sum(len({n for _, n in layer.live_pairs()}) for layer in layers)
    assert result.census["BinaryConvolution"] < 2 * weight_bases * activation_bases - dead
    assert result.parity.argmax_agreement == 1.0 and result.parity.p90_rel_error < 1e-5


def test_a_pruned_output_channel_of_zeros_is_a_binary_convolution_with_scale_zero():
    layer = lq.layers.QuantConv2D(24, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", name="bconv")
    pruned = _model(layer, (9, 9, 40))
    rng = np.random.default_rng(3)
    kernel = np.sign(rng.standard_normal((3, 3, 40, 24))).astype(np.float32) * 0.5
    kernel[..., 3] = 0.0
    layer.set_weights([kernel, rng.normal(0, 1, 24).astype(np.float32)])
    x = inputs_with_ties(0.0)
    np.testing.assert_allclose(
        runtime.openvino_predict(to_openvino(pruned), x), pruned.predict(x, verbose=0), rtol=1e-6, atol=1e-5
    )


def test_float_layers_become_openvino_ops_with_the_same_outputs():
    layers = tf.keras.layers
    inputs = tf.keras.Input((9, 9, 3))
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    a = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    a = layers.BatchNormalization()(layers.PReLU(shared_axes=[1, 2])(a))
    b = layers.Conv2D(16, 1, groups=2, use_bias=False)(layers.LeakyReLU(0.2)(x))
    y = layers.Concatenate()([layers.ReLU(max_value=6.0)(a), layers.Activation("tanh")(b)])
    y = layers.Add()([layers.MaxPooling2D(3, 1, padding="same")(y), layers.AveragePooling2D(3, 1, padding="same")(y)])
    y = layers.Dropout(0.5)(layers.Subtract()([y, layers.Multiply()([y, y])]))
    flat = layers.Dense(6, activation="sigmoid")(layers.Flatten()(y))
    pooled = layers.Dense(6)(layers.GlobalMaxPooling2D()(layers.Reshape((5, 5, 32))(y)))
    outputs = layers.Softmax()(layers.Average()([flat, pooled]))
    model = tf.keras.Model(inputs, outputs, name="float_layers")
    x = np.random.default_rng(4).standard_normal((8, 9, 9, 3)).astype(np.float32)
    realistic = realistic_weights(model, x)
    np.testing.assert_allclose(
        runtime.openvino_predict(to_openvino(realistic), x), realistic.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def _model(layer, shape=(8, 8, 32)):
    inputs = tf.keras.Input(shape)
    return tf.keras.Model(inputs, layer(inputs), name="refused")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _model(lq.layers.QuantConv2D(8, 3, padding="same", pad_values=0.5, input_quantizer="ste_sign",
                                              kernel_quantizer="ste_sign", name="halfpad")), "halfpad.*pad_values"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, groups=2, input_quantizer="ste_sign",
                                              kernel_quantizer="ste_sign", name="grouped")), "grouped.*groups"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, input_quantizer="ste_heaviside", kernel_quantizer="ste_sign",
                                              name="heavy")), "heavy.*not a sign"),
        (lambda: _model(lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", name="halfbinary")),
         "halfbinary.*not a binary convolution"),
        (lambda: _model(tf.keras.layers.Conv2DTranspose(8, 3, name="upconv")), "upconv.*transposed"),
        (lambda: _model(tf.keras.layers.LayerNormalization(name="norm")), "norm \\(LayerNormalization\\).*not support"),
        (lambda: _model(tf.keras.layers.Conv2D(8, 3, name="anysize"), (None, None, 3)), "fixed input shape"),
    ],
)
def test_what_openvino_cannot_express_is_refused_naming_the_layer(make, message):
    with pytest.raises(ConversionError, match=message):
        to_openvino(make())


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
    with pytest.raises(ConversionError, match="holes.*1 zero weight"):
        to_openvino(model)


def test_a_wrong_conversion_fails_parity(monkeypatch):
    model = tiny_net("bnn", seed=3)

    def msb_first(ov_module, kernel):  # the packing order that computes something else
        packed = np.packbits((kernel > 0).reshape(-1).astype(np.uint8))
        return ov_module.op.Constant(ov_module.Tensor(packed, ov_module.Shape(kernel.shape), ov_module.Type.u1),
                                     shared_memory=False)

    monkeypatch.setattr(ov_convert, "bits_constant", msb_first)
    with pytest.raises(ParityError, match="the OpenVINO model disagrees with Keras") as caught:
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
    assert summary["size_bytes"] == out.stat().st_size + (directory / "model.bin").stat().st_size
    assert summary["baselines"]["float"]["output"] == str(directory / "model.float.xml")
    plot = directory / "latency.png"
    status, stdout, err = run_cli(capsys, "bench", out, directory / "model.float.xml", "--engine", "openvino",
                                  "--runs", "3", "--warmup", "1", "--json", "--plot", plot)
    assert status == 0, err
    report = json.loads(stdout)
    assert report["engine"] == "openvino" and report["threads"] == 1
    binary, fp32 = report["models"]
    assert binary["census"]["BinaryConvolution"] == 2 and binary["bit_ops"] > 0 and binary["latency_ms"] > 0
    assert fp32["bit_ops"] == 0 and fp32["flops"] > binary["flops"]
    assert plot.stat().st_size > 0
    status, stdout, err = run_cli(capsys, "bench", out, "--engine", "openvino", "--runs", "2", "--warmup", "0")
    assert status == 0 and "host (openvino)" in stdout and "model.xml" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--target", "openvino", "-o", "{dir}/m.tflite"], "--target openvino writes a .xml file"),
        (["--target", "openvino", "-o", "{dir}/m.xml", "--allow-float-fallback"], "--allow-float-fallback is for --target lce"),
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
