"""Residual binary networks in the Bi-Real / ReActNet layout.

Every builder takes `conv`: "bnn" (larq `QuantConv2D`, 1-bit weights and
activations), "mbn" (`tfbin.layers.MultiBaseConv2D` with `weight_bases` x
`activation_bases`), "float" (full-precision `Conv2D` of the same shape, the
starting point for `tfbin.zoo.init_from_float`), "snn" (`tfbin.layers.SubBitConv2D`
with `tau` bits per 3x3 kernel) or "irnet" (larq `QuantConv2D` with IR-Net's
`LibraSign` kernel and `ErrorDecaySign` input quantizers). The stem
convolution, the 1x1 downsampling shortcuts and the classifier stay full
precision.

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

__all__ = ["CONV_KINDS", "binary_conv", "digits_resnet", "resnet18", "resnet20", "residual_net"]


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


def _block(x, filters, strides, conv, name, mbn_kwargs):
    shortcut = x
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
    name="residual_net",
    tau=5,
):
    """A residual binary network.

    Arguments:
        stages: list of (filters, blocks, first_stride) per stage.
        conv, weight_bases, activation_bases, scaling: the binary convolutions.
        tau: bits per 3x3 kernel of conv="snn" (1..9).
        stem_*: the full-precision stem (stride, kernel, ImageNet-style max pool).
    """
    check_one_of("conv", conv, CONV_KINDS)
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
            x = _block(x, filters, strides, conv, f"stage{s + 1}_block{b + 1}", mbn_kwargs)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(num_classes, name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def digits_resnet(input_shape=(8, 8, 1), num_classes=10, width=32, **kwargs):
    """A small 4-block residual binary network for 8x8 digits."""
    stages = [(width, 2, 1), (2 * width, 2, 2)]
    return residual_net(input_shape, num_classes, stages, name="digits_resnet", **kwargs)


def resnet20(input_shape=(32, 32, 3), num_classes=10, width=16, **kwargs):
    """ResNet-20 for CIFAR: three stages of three blocks, widths w, 2w, 4w."""
    stages = [(width, 3, 1), (2 * width, 3, 2), (4 * width, 3, 2)]
    return residual_net(input_shape, num_classes, stages, name="resnet20", **kwargs)


def resnet18(input_shape=(224, 224, 3), num_classes=1000, width=64, **kwargs):
    """ResNet-18 for ImageNet: a 7x7/2 stem with max pool, four stages of two blocks.

    Each basic block of two 3x3 convolutions is counted as two binary blocks,
    each with its own shortcut (Bi-Real style).
    """
    stages = [(width, 4, 1), (2 * width, 4, 2), (4 * width, 4, 2), (8 * width, 4, 2)]
    return residual_net(
        input_shape,
        num_classes,
        stages,
        stem_stride=2,
        stem_kernel=7,
        stem_pool=True,
        name="resnet18",
        **kwargs,
    )
