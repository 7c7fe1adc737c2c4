"""Model builders for tfbin: residual, VGG and DeepLab networks of binary, multi-base, sub-bit or float convolutions."""
from tfbin.zoo.models import (
    BLOCKS,
    CONV_KINDS,
    binary_conv,
    deeplab,
    digits_resnet,
    resnet18,
    resnet20,
    resnet34,
    resnet50,
    resnet56,
    residual_net,
    vgg_small,
)

__all__ = [
    "BLOCKS",
    "CONV_KINDS",
    "binary_conv",
    "deeplab",
    "digits_resnet",
    "resnet18",
    "resnet20",
    "resnet34",
    "resnet50",
    "resnet56",
    "residual_net",
    "vgg_small",
]
