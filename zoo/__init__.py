"""Model builders for tfbin: residual BNN / MBN / float networks of common shapes."""
from tfbin.zoo.models import (
    BLOCKS,
    CONV_KINDS,
    binary_conv,
    digits_resnet,
    resnet18,
    resnet20,
    resnet34,
    resnet56,
    residual_net,
)

__all__ = [
    "BLOCKS",
    "CONV_KINDS",
    "binary_conv",
    "digits_resnet",
    "resnet18",
    "resnet20",
    "resnet34",
    "resnet56",
    "residual_net",
]
