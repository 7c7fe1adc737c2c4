import json

import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from _command import run_tfbin
from tfbin import cli, zoo
from tfbin.cost import model_cost
from tfbin.layers import MultiBaseConv2D

# The hand-counted model: 8x8x3 -> float 3x3 conv (8) -> BN -> binary 3x3/2 conv (16)
# -> MBN 3x3 conv (16, M=3, N=2) -> pool -> dense (10).
STEM_FLOPS = 3 * 3 * 3 * 8 * (8 * 8)
BINARY_BIT_OPS = 3 * 3 * 8 * 16 * (4 * 4)
MBN_BIT_OPS_PER_CONV = 3 * 3 * 16 * 16 * (4 * 4)
DENSE_FLOPS = 16 * 10
MASK = np.array([[1, 0], [1, 1], [0, 0]], np.float32)  # 3 live; weight base 2 unused


def hand_counted_model():
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        16, 3, strides=2, padding="same", pad_values=1.0, use_bias=False, name="binary",
        input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    )(x)
    x = MultiBaseConv2D(
        16, 3, weight_bases=3, activation_bases=2, padding="same", pad_values=1.0,
        use_bias=False, name="mbn",
    )(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(10, name="logits")(x)
    model = tf.keras.Model(inputs, outputs)
    model.get_layer("mbn").mask.assign(MASK)
    return model


@pytest.fixture(scope="module")
def model():
    return hand_counted_model()


def by_name(cost):
    return {layer.name: layer for layer in cost.layers}


def test_bit_ops_flops_and_ops_by_hand(model):
    cost = model_cost(model)
    layers = by_name(cost)
    assert layers["stem"].kind == "float" and layers["stem"].flops == STEM_FLOPS
    assert layers["binary"].kind == "binary" and layers["binary"].bit_ops == BINARY_BIT_OPS
    assert layers["mbn"].kind == "mbn" and layers["mbn"].bit_ops == 3 * MBN_BIT_OPS_PER_CONV
    assert layers["logits"].flops == DENSE_FLOPS
    assert cost.bit_ops == BINARY_BIT_OPS + 3 * MBN_BIT_OPS_PER_CONV
    assert cost.flops == STEM_FLOPS + DENSE_FLOPS
    assert cost.ops == (BINARY_BIT_OPS + 3 * MBN_BIT_OPS_PER_CONV) / 64 + STEM_FLOPS + DENSE_FLOPS
    assert layers["mbn"].ops == 3 * MBN_BIT_OPS_PER_CONV / 64
    assert "pool" not in layers  # no weights, no cost


def test_params_in_mbit_by_hand(model):
    layers = by_name(model_cost(model))
    assert layers["binary"].binary_params == 3 * 3 * 8 * 16
    assert layers["binary"].float_params == 0
    # Two live weight bases; thresholds (2), alpha (2 x 16), beta (2), gamma (3 live).
    assert layers["mbn"].binary_params == 2 * 3 * 3 * 16 * 16
    assert layers["mbn"].float_params == 2 + 2 * 16 + 2 + 3
    assert layers["stem"].float_params == 3 * 3 * 3 * 8
    assert layers["stem_bn"].float_params == 4 * 8
    assert layers["logits"].float_params == 16 * 10 + 10
    binary_bits = 3 * 3 * 8 * 16 + 2 * 3 * 3 * 16 * 16
    float_params = 39 + 216 + 32 + 170
    assert model_cost(model).params_mbit == pytest.approx((binary_bits + 32 * float_params) / 1e6)


def test_mbn_cost_follows_the_mask(model):
    layer = model.get_layer("mbn")
    try:
        expected = {
            ((1, 1), (1, 1), (1, 1)): (6, 3, 2),
            ((1, 0), (1, 1), (0, 0)): (3, 2, 2),
            ((0, 0), (0, 1), (0, 0)): (1, 1, 1),
            ((1, 0), (1, 0), (1, 0)): (3, 3, 1),
        }
        for mask, (live, weight_bits, activation_bits) in expected.items():
            layer.mask.assign(np.array(mask, np.float32))
            cost = by_name(model_cost(model))["mbn"]
            assert cost.live_convolutions == live
            assert cost.bit_ops == live * MBN_BIT_OPS_PER_CONV
            assert (cost.weight_bits, cost.activation_bits) == (weight_bits, activation_bits)
            assert cost.binary_params == weight_bits * 3 * 3 * 16 * 16
    finally:
        layer.mask.assign(MASK)


def test_float_layers_are_listed(model):
    cost = model_cost(model)
    assert cost.float_layers == ["stem", "logits"]
    table = cost.table()
    assert "counted as float (32-bit): stem, logits" in table


def test_zoo_float_layers_follow_the_conventions():
    # Stem, 1x1 downsampling shortcuts and classifier stay float; the 3x3 convs are binary.
    cost = model_cost(zoo.resnet20(width=4, conv="mbn", weight_bases=2, activation_bases=2))
    assert cost.float_layers == ["stem_conv", "stage2_block1_down", "stage3_block1_down", "logits"]
    assert {layer.kind for layer in cost.layers if layer.name.endswith("_conv")} == {"float", "mbn"}
    bnn = model_cost(zoo.resnet20(width=4, conv="bnn"))
    mbn_1x1 = model_cost(zoo.resnet20(width=4, conv="mbn"))
    assert mbn_1x1.bit_ops == bnn.bit_ops  # one live convolution per layer: a BNN's cost
    assert cost.bit_ops == 4 * bnn.bit_ops
    assert cost.flops == bnn.flops


def test_table_rows_and_totals(model):
    cost = model_cost(model)
    lines = cost.table().splitlines()
    assert lines[0].split() == ["layer", "kind", "W/A", "bits", "live", "bit-OPs", "FLOPs", "OPs", "Mbit"]
    mbn_row = next(line for line in lines if line.startswith("mbn "))
    assert mbn_row.split()[:4] == ["mbn", "mbn", "2/2", "3"]
    assert f"{3 * MBN_BIT_OPS_PER_CONV:,}" in mbn_row
    total_row = next(line for line in lines if line.startswith("total"))
    assert f"{cost.bit_ops:,}" in total_row and f"{cost.ops:,.0f}" in total_row
    assert f"OPs = bit-OPs/64 + FLOPs = {cost.ops:,.0f}" in lines


def test_fully_pruned_mbn_reports_zero_bits(model):
    layer = model.get_layer("mbn")
    try:
        layer.mask.assign(np.zeros((3, 2), np.float32))
        row = next(line for line in model_cost(model).table().splitlines() if line.startswith("mbn "))
        assert row.split()[:4] == ["mbn", "mbn", "0/0", "0"]
    finally:
        layer.mask.assign(MASK)


def test_to_dict_is_json_and_consistent(model):
    cost = model_cost(model)
    data = json.loads(json.dumps(cost.to_dict()))
    assert data["bit_ops"] == cost.bit_ops and data["flops"] == cost.flops
    assert data["ops"] == pytest.approx(cost.ops)
    mbn = next(layer for layer in data["layers"] if layer["name"] == "mbn")
    assert mbn["live_convolutions"] == 3 and mbn["weight_bits"] == 2 and mbn["activation_bits"] == 2


# the command


@pytest.fixture(scope="module")
def saved_model_path(tmp_path_factory, model):
    path = str(tmp_path_factory.mktemp("cost") / "model.keras")
    model.save(path)
    return path


def test_summary_command_prints_the_table(saved_model_path, model, capsys):
    assert cli.main(["summary", saved_model_path]) == 0
    out = capsys.readouterr().out
    assert out.strip() == model_cost(model).table()
    assert "counted as float (32-bit): stem, logits" in out


def test_summary_command_json(saved_model_path, model, capsys):
    assert cli.main(["summary", "--json", saved_model_path]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(model_cost(model).to_dict()))
    assert data["float_layers"] == ["stem", "logits"]


def test_summary_command_missing_path_fails_clearly(tmp_path):
    missing = str(tmp_path / "no-such-model.keras")
    result = run_tfbin("summary", missing, timeout=300)
    assert result.returncode != 0
    assert "does not exist" in result.stderr and missing in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
