"""The zoo's architectures against the papers: binary layer counts and bit-OPs, and LCE conversion."""
import pytest

import tfbin
from tfbin import convert, cost, zoo
from tfbin.testing import realistic_weights

import numpy as np


def binary_layers(model):
    return [layer for layer in cost.model_cost(model).layers if layer.kind == "binary"]


@pytest.mark.parametrize(
    "builder, convolutions, bit_ops",
    [
        # CIFAR ResNets: (depth - 2) binary 3x3 convolutions; 32x32 inputs, widths 16/32/64.
        (zoo.resnet20, 18, 40_108_032),
        (zoo.resnet56, 54, 125_042_688),
        # ImageNet ResNets at 224x224: every 3x3 convolution of the basic blocks is binary;
        # stem, 1x1 downsampling and classifier stay float.
        (zoo.resnet18, 16, 1_676_279_808),
        (zoo.resnet34, 32, 3_525_967_872),
    ],
)
def test_standard_architectures_have_their_papers_binary_layers(builder, convolutions, bit_ops):
    model = builder()
    layers = binary_layers(model)
    assert len(layers) == convolutions
    assert sum(layer.bit_ops for layer in layers) == bit_ops


def test_resnet20_bit_ops_by_hand():
    # Stage 1: 6 convs of 16->16 at 32x32; stages 2 and 3: a strided 16->32 (32->64) conv at
    # 16x16 (8x8) and 5 convs of 32->32 (64->64).
    by_hand = 6 * 16 * 16 * 9 * 32 * 32 + (16 * 32 + 5 * 32 * 32) * 9 * 16 * 16 + (32 * 64 + 5 * 64 * 64) * 9 * 8 * 8
    assert cost.model_cost(zoo.resnet20()).bit_ops == by_hand


@pytest.mark.parametrize("builder", [zoo.resnet20, zoo.resnet56, zoo.resnet18, zoo.resnet34])
@pytest.mark.parametrize("scheme", [dict(conv="bnn"), dict(conv="mbn", weight_bases=2, activation_bases=2)])
def test_every_zoo_model_converts_with_parity(builder, scheme):
    x = np.random.default_rng(0).standard_normal((48, 32, 32, 3)).astype(np.float32)
    model = realistic_weights(builder(input_shape=(32, 32, 3), num_classes=10, width=4, **scheme), x[:32])
    result = convert.convert(model, calibration_data=x[32:])
    assert result.census["LceBconv2d"] == len(binary_layers(tfbin.pruning.strip_pruning(model)))
    assert not result.float_fallbacks
