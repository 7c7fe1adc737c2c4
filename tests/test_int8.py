"""Binary networks with int8 float layers: LCE and OpenVINO op census, refusals and the agreement threshold."""
import json

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import BINARY, digits, run_cli, tiny_net

from tfbin.convert import ConversionError, ParityError, convert, convert_openvino
from tfbin.convert import int8
from tfbin.convert import openvino_int8
from tfbin.convert.flatbuffer import op_census
from tfbin.convert.openvino_converter import to_openvino
from tfbin.convert.parity import measure_parity
from tfbin.testing import realistic_weights

FEW = 64


@pytest.fixture(scope="module")
def net():
    """Two binary blocks with a float stem, a float 1x1 downsampling shortcut and a float classifier."""
    return tiny_net("bnn")


@pytest.fixture(scope="module")
def lce_int8(net):
    # Census, not accuracy: an untrained net's argmax says little (the threshold is tested below).
    return convert(net, calibration_data=digits().x_test[:FEW], float_layers="int8", min_agreement=0.0)


def test_lce_float_layers_become_int8_next_to_the_binary_ones(net, lce_int8):
    float_only = convert(net, calibration_data=digits().x_test[:FEW])
    assert float_only.int8_layers == []
    assert lce_int8.int8_layers == ["stem_conv", "stage2_block1_down", "logits"]
    census = lce_int8.census
    # Binary layers stay binary, as many as without int8.
    assert census["LceBconv2d"] == float_only.census["LceBconv2d"] == 2
    operators = int8.int8_operators(lce_int8.tflite)
    kinds = sorted(op for op, _, _, _ in operators)
    assert kinds == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED"]
    # int8 data and weights on every one; none left float (the float conversion has float32 ones).
    assert all(inputs == weights == "INT8" for _, inputs, weights, _ in operators)
    assert all(weights == "FLOAT32" for _, _, weights, _ in int8.int8_operators(float_only.tflite))
    assert census["QUANTIZE"] >= 1 and census["DEQUANTIZE"] >= 1
    assert lce_int8.to_dict()["int8_layers"] == lce_int8.int8_layers
    assert "int8_s" in lce_int8.timings


def test_fake_quantized_model_matches_its_flatbuffer_closely(net):
    # The export pass computes what LCE's int8 kernels compute: the fake-quantized Keras model and the
    # flatbuffer differ by int8 rounding only, far less than the float model and the flatbuffer do.
    from tfbin.convert.converter import lce_predict
    from tfbin.convert.parity import keras_predict
    from tfbin.convert.tracing import lce_flatbuffer
    from tfbin.pruning import strip_pruning

    x = digits().x_test[:FEW]
    fake, names = int8.fake_quantized(strip_pruning(net), x)
    assert names == ["stem_conv", "stage2_block1_down", "logits"]
    # The BatchNorm after the stem and after the shortcut folded into them.
    assert "stem_bn" not in [layer.name for layer in fake.layers]
    assert isinstance(fake.get_layer("stem_conv"), int8.FakeQuantized)
    flatbuffer = lce_flatbuffer(fake)
    assert op_census(flatbuffer)["LceBconv2d"] == 2
    # int8 moves a few signs of the binary layers; most samples keep their argmax.
    assert measure_parity(keras_predict(fake, x), lce_predict(flatbuffer, x)).argmax_agreement >= 0.9


def test_calibration_covers_every_float_layer_input_and_output(net):
    from tfbin.pruning import strip_pruning

    model = strip_pruning(net)
    layers, refused = int8.int8_candidates(model)
    assert refused == []
    x = digits().x_test[:FEW]
    ranges = int8.calibrate(model, layers, x)
    (low, high), _ = ranges["stem_conv"]
    # The stem reads the images themselves.
    assert (low, high) == pytest.approx((min(0.0, float(x.min())), max(0.0, float(x.max()))))
    for (in_low, in_high), (out_low, out_high) in ranges.values():
        assert in_low <= 0 <= in_high and out_low <= 0 <= out_high and out_high > out_low


def test_judge_int8_parity_holds_agreement_only():
    reference = np.eye(10)[np.arange(100) % 10] * 5.0
    candidate = reference + 1.0  # a large relative error (0.2), every argmax the same
    parity = int8.judge_int8_parity(tf.keras.Model(name="m"), reference, candidate)
    assert parity.argmax_agreement == 1.0 and parity.p90_rel_error == pytest.approx(0.2)
    wrong = candidate.copy()
    wrong[:3] = np.roll(wrong[:3], 1, axis=1)  # 3 of 100 samples change their argmax: 0.97 < 0.98
    with pytest.raises(ParityError, match=r"agreement 0\.9700 \(need >= 0\.98") as error:
        int8.judge_int8_parity(tf.keras.Model(name="m"), reference, wrong)
    assert error.value.parity.argmax_agreement == pytest.approx(0.97)
    assert int8.judge_int8_parity(tf.keras.Model(name="m"), reference, wrong, min_agreement=0.97).samples == 100


def test_convert_holds_the_given_agreement_on_int8_and_not_the_relative_error(net, lce_int8):
    parity = lce_int8.parity
    # int8 moved this untrained net's outputs by more than the float tolerance (p90 0.05): reported, not held.
    assert parity.p90_rel_error > 0.05
    assert parity.argmax_agreement < 1.0
    with pytest.raises(ParityError, match="int8 float layers disagrees") as error:
        convert(net, calibration_data=digits().x_test[:FEW], float_layers="int8", min_agreement=1.0)
    assert error.value.parity.argmax_agreement == parity.argmax_agreement
    # With the default (0.98) it passes or fails by its agreement alone.
    if parity.argmax_agreement >= int8.MIN_INT8_AGREEMENT:
        assert convert(net, calibration_data=digits().x_test[:FEW], float_layers="int8").parity == parity
    else:
        with pytest.raises(ParityError, match=r"need >= 0\.98"):
            convert(net, calibration_data=digits().x_test[:FEW], float_layers="int8")


def test_int8_needs_calibration_data_and_a_known_choice(net):
    with pytest.raises(ValueError, match="needs calibration_data"):
        convert(net, float_layers="int8")
    with pytest.raises(ValueError, match="float_layers"):
        convert(net, calibration_data=digits().x_test[:FEW], float_layers="int4")


def _with_float_layer(layer):
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = layer(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="binary_conv", **BINARY)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.layers.BatchNormalization()(x))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(x), name="odd")
    return realistic_weights(model, digits().x_train[:128], seed=1)


@pytest.mark.parametrize("layer, kind", [
    (tf.keras.layers.DepthwiseConv2D(3, padding="same", name="odd_layer"), "DepthwiseConv2D"),
    (tf.keras.layers.Conv2DTranspose(32, 3, padding="same", name="odd_layer"), "Conv2DTranspose"),
    (tf.keras.layers.Conv2D(32, 3, padding="same", groups=4, name="odd_layer"), "grouped Conv2D"),
])
def test_a_float_layer_that_cannot_be_int8_is_refused_by_name(layer, kind):
    model = _with_float_layer(layer)
    with pytest.raises(int8.NotInt8Error, match=f"odd_layer: a {kind}") as error:
        convert(model, calibration_data=digits().x_test[:FEW], float_layers="int8", min_agreement=0.0)
    assert isinstance(error.value, ConversionError)
    assert [name for name, _ in error.value.layers] == ["odd_layer"]
    # The same model converts with float layers.
    assert convert(model, calibration_data=digits().x_test[:FEW], min_agreement=0.0).int8_layers == []


def test_a_float_operator_left_in_the_flatbuffer_is_refused(lce_int8):
    # What check_int8 sees when LCE keeps a layer float: the same flatbuffer judged against the float one.
    float_tflite = convert(tiny_net("bnn"), calibration_data=digits().x_test[:FEW]).tflite
    with pytest.raises(ConversionError, match="still has float operator"):
        int8.check_int8(float_tflite, "tiny", ["stem_conv"])
    assert int8.check_int8(lce_int8.tflite, "tiny", lce_int8.int8_layers) == {"CONV_2D": 2, "FULLY_CONNECTED": 1}
    with pytest.raises(ConversionError, match="only 3 int8"):
        int8.check_int8(lce_int8.tflite, "tiny", ["a", "b", "c", "d"])


# -- OpenVINO ------------------------------------------------------------------------


def _fake_quantize_levels(ir):
    return sorted(node.get_attributes()["levels"] for node in ir.get_ordered_ops()
                  if node.get_type_name() == "FakeQuantize")


def test_openvino_float_layers_become_int8_and_the_binary_part_stays(net):
    x = digits().x_test[:FEW]
    result = convert_openvino(net, calibration_data=x, float_layers="int8", min_agreement=0.0)
    plain = to_openvino(net)
    assert result.int8_layers == ["stem_conv", "stage2_block1_down", "logits"]
    assert result.census["BinaryConvolution"] == plain_census(plain)["BinaryConvolution"] == 2
    levels = _fake_quantize_levels(result.model)
    # The one-bit FakeQuantize of each binary convolution as it was, and 8-bit ones on the float layers' inputs.
    assert levels.count(2) == _fake_quantize_levels(plain).count(2) == 2
    assert levels.count(256) == 3
    int8_ops, float_ops = openvino_int8.int8_layers(result.model)
    assert len(int8_ops) == 3 and float_ops == []
    # The float conversion keeps them float, which the check refuses.
    assert len(openvino_int8.int8_layers(plain)[1]) == 3
    with pytest.raises(ConversionError, match="left 3 convolution or dense op"):
        openvino_int8.check_int8_ir(plain, "tiny")
    assert result.model.inputs[0].get_partial_shape().to_string() == "[?,8,8,1]"
    assert json.loads(json.dumps(result.to_dict()))["int8_layers"] == result.int8_layers


def plain_census(ir):
    from tfbin.convert.openvino_runtime import ir_census

    return ir_census(ir)


# -- the command ---------------------------------------------------------------------


def test_convert_command_float_layers_int8(net, tmp_path, capsys):
    path = tmp_path / "tiny.keras"
    net.save(path)
    status, out, err = run_cli(capsys, "convert", path, "-o", tmp_path / "m.tflite", "--calibration", "digits",
                               "--samples", FEW, "--float-layers", "int8", "--min-agreement", "0.01", "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["int8_layers"] == ["stem_conv", "stage2_block1_down", "logits"]
    assert summary["census"]["LceBconv2d"] == 2 and summary["census"]["FULLY_CONNECTED"] == 1
    status, out, err = run_cli(capsys, "convert", path, "-o", tmp_path / "n.tflite", "--float-layers", "int8")
    assert status == 2 and "--float-layers int8 needs --calibration" in err
    assert not (tmp_path / "n.tflite").exists()


# -- the demo ------------------------------------------------------------------------


def test_demo_int8_row_converts_the_trained_bnn_without_training_it_again(monkeypatch):
    import tfbin.demo
    from tfbin.demo import pabt

    trained = []

    def train_row(name, dataset, epochs, width, verbose):  # training-like weights, in no time
        trained.append(name)
        model = pabt._model(name, dataset, width)
        model.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return realistic_weights(model, digits().x_train[:256], seed=2), {}

    monkeypatch.setattr(pabt, "train_row", train_row)
    report = tfbin.demo.run_demo(method="pabt", epochs=1, width=8, rows=("bnn", "bnn_int8"), verbose=0)
    assert trained == ["bnn"]
    bnn, bnn_int8 = report["models"]
    assert bnn_int8["name"] == "bnn_int8" and "int8_layers" not in bnn
    assert bnn_int8["int8_layers"] == ["stem_conv", "stage2_block1_down", "logits"]
    assert bnn_int8["op_census"]["LceBconv2d"] == bnn["op_census"]["LceBconv2d"]
    assert bnn_int8["op_census"]["QUANTIZE"] >= 1 and "QUANTIZE" not in bnn["op_census"]
    assert bnn_int8["bit_ops"] == bnn["bit_ops"] and 0 <= bnn_int8["accuracy"] <= 1
    # An untrained net is fragile: either it kept 0.98 agreement, or the row says why it was refused.
    assert (bnn_int8["argmax_agreement"] >= 0.98) != ("int8_refused" in bnn_int8)
    with pytest.raises(ValueError, match="list 'bnn' before it"):
        tfbin.demo.run_demo(method="pabt", epochs=1, width=8, rows=("bnn_int8",), verbose=0)
