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
        # ResNet-50: 16 bottlenecks of three binary convolutions. The standard network's 4.089 G
        # multiply-adds less the 7x7 stem (118.0 M), the four 1x1 downsampling convolutions (359.7 M)
        # and the classifier (2.0 M).
        (zoo.resnet50, 48, 3_609_460_736),
        # VGG-Small at 32x32: 128->128 @32, 128->256 and 256->256 @16, 256->512 and 512->512 @8.
        (zoo.vgg_small, 5, (128 * 128 * 32 * 32 + (128 + 256) * 256 * 16 * 16 + (256 + 512) * 512 * 8 * 8) * 9),
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


# ResNet-56 and ResNet-34 are deeper stacks of ResNet-20's and ResNet-18's blocks (their layer
# counts are pinned above); converting those two adds minutes and no new layer pattern.
@pytest.mark.parametrize("builder", [zoo.resnet20, zoo.resnet18, zoo.resnet50, zoo.vgg_small])
@pytest.mark.parametrize("scheme", [dict(conv="bnn"), dict(conv="mbn", weight_bases=2, activation_bases=2)])
def test_every_zoo_model_converts_with_parity(builder, scheme):
    x = np.random.default_rng(0).standard_normal((48, 32, 32, 3)).astype(np.float32)
    model = realistic_weights(builder(input_shape=(32, 32, 3), num_classes=10, width=4, **scheme), x[:32])
    result = convert.convert(model, calibration_data=x[32:])
    assert result.census["LceBconv2d"] == len(binary_layers(tfbin.pruning.strip_pruning(model)))
    assert not result.float_fallbacks


def small_deeplab(**scheme):
    return zoo.deeplab((64, 64, 3), num_classes=11, width=8, aspp_filters=16, low_level_filters=8,
                       decoder_filters=16, **scheme)


def test_deeplab_is_pabts_segmentation_network():
    model = zoo.deeplab()  # 512x1024 Cityscapes, 19 classes
    assert model.output_shape == (None, 512, 1024, 19)
    layers = {layer.name: layer for layer in model.layers}
    binary = binary_layers(model)
    # ResNet-18's 16 binary 3x3 convolutions, four ASPP branches and their projection,
    # the decoder's 1x1 on the low-level features and its two 3x3 convolutions.
    assert len(binary) == 16 + 4 + 1 + 1 + 2
    # The last stage is dilated by 2 instead of strided: features at 1/16 of the input.
    assert [layers[f"stage4_block{b}_conv"].dilation_rate for b in range(1, 5)] == [(2, 2)] * 4
    assert layers["stage4_block4_add"].output.shape[1:3] == (32, 64)
    assert [layers[f"aspp_rate{r}"].dilation_rate for r in (1, 8, 12, 18)] == [(1, 1), (8, 8), (12, 12), (18, 18)]
    assert layers["aspp_rate1"].kernel_size == (1, 1) and layers["aspp_rate8"].kernel_size == (3, 3)
    with pytest.raises(ValueError, match="multiples of 16"):
        zoo.deeplab((100, 100, 3))
    with pytest.raises(ValueError, match="resnet50 is built of bottleneck blocks"):
        zoo.resnet50(block="basic")


@pytest.mark.parametrize("scheme", [dict(conv="bnn"), dict(conv="mbn", weight_bases=2, activation_bases=2)])
def test_deeplab_converts_with_every_dilated_convolution_binary(scheme):
    x = np.random.default_rng(0).standard_normal((24, 64, 64, 3)).astype(np.float32)
    model = realistic_weights(small_deeplab(**scheme), x[:16])
    result = convert.convert(model, calibration_data=x[16:])
    assert result.census["LceBconv2d"] == len(binary_layers(tfbin.pruning.strip_pruning(model)))
    assert not result.float_fallbacks
