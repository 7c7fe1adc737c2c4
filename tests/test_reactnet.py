"""ReActNet parts (tfbin.reactnet) and the zoo's ReActNet-style and fully binary networks, with LCE."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

import larq as lq
import tfbin
from tfbin import cost, data, zoo
from tfbin.convert import convert
from tfbin.reactnet import ChannelScale, LearnableBias, RPReLU, RSign
from tfbin.testing import realistic_weights


def _x(shape=(4, 5, 5, 3), seed=0):
    return np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)


def _set(variable, values):
    variable.assign(np.asarray(values, np.float32))


@pytest.mark.parametrize("gradient", ["approx", "ste"])
def test_rsign_is_the_sign_of_the_shifted_input_with_the_chosen_pseudo_gradient(gradient):
    x = _x()
    rsign = RSign(gradient=gradient)
    rsign.build(x.shape)
    _set(rsign.bias, [0.5, -0.25, 0.0])
    x[0, 0, 0] = [-0.5, 0.25, 0.0]  # shifted exactly onto zero: larq's sign (and LCE's) gives +1
    shifted = x + [0.5, -0.25, 0.0]
    with tf.GradientTape() as tape:
        tape.watch(x_t := tf.constant(x))
        y = rsign(x_t)
    np.testing.assert_array_equal(y.numpy(), np.where(shifted >= 0, 1.0, -1.0))
    inside = np.abs(shifted) <= 1
    expected = np.where(inside, 2 - 2 * np.abs(shifted), 0) if gradient == "approx" else inside.astype(np.float32)
    np.testing.assert_allclose(tape.gradient(y, x_t).numpy(), expected, atol=1e-6)
    assert rsign.precision == 1
    restored = RSign.from_config(rsign.get_config())
    assert restored.gradient == gradient
    with pytest.raises(ValueError, match="gradient must be one of approx, ste"):
        RSign(gradient="swish")


def test_rsign_as_input_quantizer_trains_its_shift_with_the_layer():
    conv = lq.layers.QuantConv2D(4, 3, input_quantizer=RSign(), kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip")
    x = tf.constant(_x())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(conv(x) ** 2)
    bias = conv.input_quantizer.bias
    assert any(v is bias for v in conv.trainable_weights)
    assert np.any(tape.gradient(loss, bias).numpy() != 0)


def test_rprelu_bias_and_scale_layers_compute_their_formulas():
    x = _x()
    rprelu = RPReLU()
    rprelu.build(x.shape)
    _set(rprelu.shift_in, [0.1, -0.2, 0.3])
    _set(rprelu.alpha, [0.25, 0.5, 0.0])
    _set(rprelu.shift_out, [-1.0, 0.0, 2.0])
    shifted = x + [0.1, -0.2, 0.3]
    expected = np.where(shifted > 0, shifted, [0.25, 0.5, 0.0] * shifted) + [-1.0, 0.0, 2.0]
    np.testing.assert_allclose(rprelu(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    prelu = tf.keras.layers.PReLU(shared_axes=[1, 2])
    prelu.build(x.shape)
    prelu.alpha.assign(np.reshape([0.25, 0.5, 0.0], (1, 1, 3)))
    np.testing.assert_allclose(rprelu(x).numpy(), prelu(shifted).numpy() + [-1.0, 0.0, 2.0], atol=1e-6)
    bias, scale = LearnableBias(), ChannelScale()
    bias.build(x.shape), scale.build(x.shape)
    np.testing.assert_array_equal(bias(x).numpy(), x)  # zero and one at first
    np.testing.assert_array_equal(scale(x).numpy(), x)
    _set(bias.bias, [1.0, 2.0, 3.0])
    _set(scale.scale, [1.0, -2.0, 0.5])
    np.testing.assert_allclose(bias(x).numpy(), x + [1.0, 2.0, 3.0])
    np.testing.assert_allclose(scale(x).numpy(), x * [1.0, -2.0, 0.5])
    for layer in (rprelu, bias, scale):
        clone = type(layer).from_config(layer.get_config())
        clone.build(x.shape)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("file_name", ["model.keras", "model.h5"])
def test_reactnet_models_save_and_load(tmp_path, file_name):
    x = data.digits_arrays().x_test[:32]
    model = zoo.digits_resnet(width=8, conv="relaxed", block="reactnet", binary_classifier=True)
    realistic_weights(model, x)
    path = str(tmp_path / file_name)
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _ops(tflite):
    """(name, input tensors, output tensors) of each operator of the first subgraph, in order."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    builtin = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = (code.customCode or b"").decode() or builtin[max(code.builtinCode, code.deprecatedBuiltinCode)]
        yield name, list(op.inputs), list(op.outputs)


def test_fully_binary_reactnet_converts_to_binary_convolutions_only_with_parity():
    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=8, conv="bnn", block="reactnet", fully_binary=True)
    realistic_weights(model, digits.x_train[:256], seed=1)
    binary = [layer for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]
    # stem, 4 blocks, 1 downsampling shortcut and the classifier (a 1x1 convolution: LCE has no binary Dense)
    assert len(binary) == 7 and model.get_layer("logits_conv").kernel_size == (1, 1)
    model_cost = cost.model_cost(model)
    assert model_cost.flops == 0 and model_cost.float_layers == []
    result = convert(model, calibration_data=digits.x_test[:200])  # refuses float fallbacks, checks parity
    assert result.census["LceBconv2d"] == 7
    assert not {"CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D"} & set(result.census)
    assert result.parity.argmax_agreement >= 0.99
    ops = list(_ops(result.tflite))
    producer = {out: name for name, _, outs in ops for out in outs}
    quantize_inputs = [producer.get(inputs[0]) for name, inputs, _ in ops if name == "LceQuantize"]
    # Every RSign's shift is an ADD right in front of its LceQuantize.
    assert quantize_inputs == ["ADD"] * 7
    # Each RPReLU runs as float ADD -> PRELU -> ADD.
    prelus = [(inputs, outs) for name, inputs, outs in ops if name == "PRELU"]
    assert len(prelus) == 4
    consumers = {i: name for name, inputs, _ in ops for i in inputs}
    assert all(producer[inputs[0]] == "ADD" and consumers[outs[0]] == "ADD" for inputs, outs in prelus)
    assert "MUL" not in result.census  # the channel scales fold into the binary convolutions


def test_zoo_options_are_checked():
    with pytest.raises(ValueError, match="block must be one of bireal, basic, reactnet, bottleneck"):
        zoo.digits_resnet(block="dense")
    with pytest.raises(ValueError, match="parts of block='reactnet'"):
        zoo.digits_resnet(block="basic", prelu=False)
    with pytest.raises(ValueError, match="prelu=False .* needs learnable_bias=True"):
        zoo.digits_resnet(block="reactnet", prelu=False, learnable_bias=False)
    with pytest.raises(ValueError, match="conv='float' has none"):
        zoo.digits_resnet(conv="float", fully_binary=True)
    with pytest.raises(ValueError, match="input_quantizer applies to conv bnn, relaxed, not 'mbn'"):
        zoo.binary_conv(8, 3, conv="mbn", input_quantizer="ste_sign")


@pytest.mark.parametrize("kwargs", [
    dict(block="reactnet", learnable_bias=False),
    dict(block="reactnet", prelu=False),
    dict(block="reactnet", channel_scale=False),
    dict(binary_downsample=True),
    dict(binary_stem=True, binary_classifier=True),
])
def test_each_part_switches(kwargs):
    model = zoo.digits_resnet(width=8, conv="relaxed", **kwargs)
    kinds = {type(layer).__name__ for layer in model.layers}
    quantizers = {type(layer.input_quantizer).__name__ for layer in model.layers
                  if isinstance(layer, lq.layers.QuantConv2D)}
    if kwargs.get("learnable_bias") is False:
        assert "RPReLU" not in kinds and "PReLU" in kinds and quantizers == {"ApproxSign"}
    if kwargs.get("prelu") is False:
        assert {"ReLU", "LearnableBias"} <= kinds and not {"RPReLU", "PReLU"} & kinds and quantizers == {"RSign"}
    if kwargs.get("channel_scale") is False:
        assert "ChannelScale" not in kinds and "RPReLU" in kinds
    binary = {layer.name for layer in model.layers if cost.is_binary_layer(layer)}
    assert ("stage2_block1_down" in binary) == bool(kwargs.get("binary_downsample"))
    assert ("stem_conv" in binary) == ("logits_conv" in binary) == bool(kwargs.get("binary_stem"))
