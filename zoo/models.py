"""Residual binary networks in the Bi-Real / ReActNet layout.

Every builder takes `conv`: "bnn" (larq `QuantConv2D`, 1-bit weights and
activations), "mbn" (`tfbin.layers.MultiBaseConv2D` with `weight_bases` x
`activation_bases`), "float" (full-precision `Conv2D` of the same shape, the
starting point for `tfbin.zoo.init_from_float`), "snn" (`tfbin.layers.SubBitConv2D`
with `tau` bits per 3x3 kernel) or "irnet" (larq `QuantConv2D` with IR-Net's
`LibraSign` kernel and `ErrorDecaySign` input quantizers). The stem
convolution, the 1x1 downsampling shortcuts and the classifier stay full
precision.

`block` picks the residual block: "bireal" (default: one binary convolution
per shortcut) or "basic" (two binary convolutions per shortcut, as in the
original ResNet; the channels between them are where STQ pruning can remove
filters without touching the residual stream, see `tfbin.stq`).

```python
import tfbin
from tfbin import zoo

model = zoo.resnet20(conv="mbn", weight_bases=3, activation_bases=3)
snn = zoo.resnet20(conv="snn", tau=5)    # 5 bits per 3x3 kernel: 0.56 bits per binary weight
```
"""
import logging

import larq as lq
import tensorflow as tf

from tfbin.choices import CONV_KINDS
from tfbin.layers import MultiBaseConv2D, SubBitConv2D
from tfbin.quantizers import ErrorDecaySign, LibraSign
from tfbin.validation import check_one_of

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

BLOCKS = ("bireal", "basic")


def binary_conv(filters, kernel_size, strides=1, conv="bnn", name=None, **mbn_kwargs):
    """The 3x3 convolution of a residual block, of the kind `conv` names.

    `same` padding pads with +1 so Larq Compute Engine fuses the padding into
    its binary convolution. `mbn_kwargs` go to the layer ("mbn": weight_bases,
    activation_bases, scaling; "snn": tau).
    """
    check_one_of("conv", conv, CONV_KINDS)
    common = dict(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        name=name,
    )
    if conv == "bnn":
        return lq.layers.QuantConv2D(
            input_quantizer="ste_sign",
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            pad_values=1.0,
            **common,
        )
    if conv == "mbn":
        return MultiBaseConv2D(pad_values=1.0, **common, **mbn_kwargs)
    if conv == "snn":
        return SubBitConv2D(pad_values=1.0, **common, **mbn_kwargs)
    if conv == "irnet":
        # larq warns that a binary kernel quantizer without a kernel constraint
        # may starve weights (ste_sign's gradient is zero beyond |w| > 1);
        # LibraSign standardises its latent weights first, so it does not apply.
        larq_log = logging.getLogger("larq.layers_base")
        level = larq_log.level
        larq_log.setLevel(logging.ERROR)
        try:
            return lq.layers.QuantConv2D(
                input_quantizer=ErrorDecaySign(), kernel_quantizer=LibraSign(), pad_values=1.0, **common
            )
        finally:
            larq_log.setLevel(level)
    return tf.keras.layers.Conv2D(kernel_initializer="he_normal", **common)


def _block(x, filters, strides, conv, name, mbn_kwargs, block="bireal"):
    shortcut = x
    if block == "basic":
        y = binary_conv(filters, 3, strides, conv, name=f"{name}_conv1", **mbn_kwargs)(x)
        y = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(y)
        y = binary_conv(filters, 3, 1, conv, name=f"{name}_conv2", **mbn_kwargs)(y)
        y = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
    else:
        y = binary_conv(filters, 3, strides, conv, name=f"{name}_conv", **mbn_kwargs)(x)
        y = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(y)
    if strides != 1 or x.shape[-1] != filters:
        if strides != 1:
            shortcut = tf.keras.layers.AveragePooling2D(strides, name=f"{name}_pool")(shortcut)
        shortcut = tf.keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_down")(shortcut)
        shortcut = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_down_bn")(shortcut)
    return tf.keras.layers.Add(name=f"{name}_add")([y, shortcut])


def residual_net(
    input_shape,
    num_classes,
    stages,
    conv="bnn",
    weight_bases=1,
    activation_bases=1,
    scaling="both",
    stem_stride=1,
    stem_kernel=3,
    stem_pool=False,
    block="bireal",
    name="residual_net",
    tau=5,
):
    """A residual binary network.

    Arguments:
        stages: list of (filters, blocks, first_stride) per stage.
        conv, weight_bases, activation_bases, scaling: the binary convolutions.
        tau: bits per 3x3 kernel of conv="snn" (1..9).
        stem_*: the full-precision stem (stride, kernel, ImageNet-style max pool).
        block: "bireal" (one binary convolution per block) or "basic" (two).
    """
    check_one_of("conv", conv, CONV_KINDS)
    check_one_of("block", block, BLOCKS)
    mbn_kwargs = (
        dict(weight_bases=weight_bases, activation_bases=activation_bases, scaling=scaling)
        if conv == "mbn"
        else {}
    )
    if conv == "snn":
        mbn_kwargs = dict(tau=tau)
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Conv2D(
        stages[0][0], stem_kernel, strides=stem_stride, padding="same", use_bias=False, name="stem_conv"
    )(inputs)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    if stem_pool:
        x = tf.keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
    for s, (filters, blocks, first_stride) in enumerate(stages):
        for b in range(blocks):
            strides = first_stride if b == 0 else 1
            x = _block(x, filters, strides, conv, f"stage{s + 1}_block{b + 1}", mbn_kwargs, block)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(num_classes, name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def digits_resnet(input_shape=(8, 8, 1), num_classes=10, width=32, block="bireal", **kwargs):
    """A small residual binary network for 8x8 digits with 4 binary convolutions.

    Four Bi-Real blocks, or two basic blocks with `block="basic"`.
    """
    blocks = 1 if block == "basic" else 2
    stages = [(width, blocks, 1), (2 * width, blocks, 2)]
    return residual_net(input_shape, num_classes, stages, block=block, name="digits_resnet", **kwargs)


def _cifar_resnet(depth, input_shape, num_classes, width, block, kwargs):
    # (depth - 2) / 6 basic blocks of two 3x3 convolutions per stage; "bireal"
    # gives each convolution its own shortcut.
    basic_blocks = (depth - 2) // 6
    blocks = basic_blocks if block == "basic" else 2 * basic_blocks
    stages = [(width, blocks, 1), (2 * width, blocks, 2), (4 * width, blocks, 2)]
    return residual_net(input_shape, num_classes, stages, block=block, name=f"resnet{depth}", **kwargs)


def resnet20(input_shape=(32, 32, 3), num_classes=10, width=16, block="bireal", **kwargs):
    """ResNet-20 for CIFAR: three stages (widths w, 2w, 4w) of three basic blocks: 18 binary 3x3 convolutions."""
    return _cifar_resnet(20, input_shape, num_classes, width, block, kwargs)


def resnet56(input_shape=(32, 32, 3), num_classes=10, width=16, block="bireal", **kwargs):
    """ResNet-56 for CIFAR: three stages (widths w, 2w, 4w) of nine basic blocks: 54 binary 3x3 convolutions."""
    return _cifar_resnet(56, input_shape, num_classes, width, block, kwargs)


def _imagenet_resnet(depth, basic_blocks, input_shape, num_classes, width, block, kwargs):
    # A basic block of two 3x3 convolutions is two binary blocks with their own
    # shortcuts in "bireal", one block under one shortcut in "basic".
    stages = [
        (width * 2**s, blocks if block == "basic" else 2 * blocks, 1 if s == 0 else 2)
        for s, blocks in enumerate(basic_blocks)
    ]
    return residual_net(input_shape, num_classes, stages, stem_stride=2, stem_kernel=7, stem_pool=True,
                        block=block, name=f"resnet{depth}", **kwargs)


def resnet18(input_shape=(224, 224, 3), num_classes=1000, width=64, block="bireal", **kwargs):
    """ResNet-18 for ImageNet: a 7x7/2 stem with max pool, four stages of two basic blocks: 16 binary 3x3 convolutions.

    `block="bireal"` gives every convolution its own shortcut; `block="basic"`
    keeps the two convolutions of a basic block under one shortcut.
    """
    return _imagenet_resnet(18, (2, 2, 2, 2), input_shape, num_classes, width, block, kwargs)


def resnet34(input_shape=(224, 224, 3), num_classes=1000, width=64, block="bireal", **kwargs):
    """ResNet-34 for ImageNet: stages of 3, 4, 6 and 3 basic blocks: 32 binary 3x3 convolutions."""
    return _imagenet_resnet(34, (3, 4, 6, 3), input_shape, num_classes, width, block, kwargs)
