"""Residual binary networks in the Bi-Real / ReActNet layout.

Every builder takes `conv`: "bnn" (larq `QuantConv2D`, 1-bit weights and
activations), "relaxed" (the same layer computing with real weights that
`tfbin.optimizers.BNEW` or `BMD` drive to +-1: its kernel quantizer is larq's
`NoOp(precision=1)`), "mbn" (`tfbin.layers.MultiBaseConv2D` with
`weight_bases` x `activation_bases`), "snn" (`tfbin.layers.SubBitConv2D` with
`tau` bits per 3x3 kernel), "irnet" (larq `QuantConv2D` with IR-Net's
`LibraSign` kernel and `ErrorDecaySign` input quantizers) or "float"
(full-precision `Conv2D` of the same shape, the starting point for
`tfbin.zoo.init_from_float`). Each is a registered `tfbin.kinds.ConvKind`;
a kind registered with `tfbin.kinds.register_kind` is built the same way.

`block` picks the residual block:
- "bireal" (default): one binary convolution and BatchNorm per shortcut;
- "basic": two binary convolutions per shortcut, as in the original ResNet;
  the channels between them are where STQ pruning can remove filters without
  touching the residual stream (see `tfbin.stq`);
- "reactnet": the ReActNet / BNEW ResNet-20 block (RSign, binary convolution,
  per-channel scale, BatchNorm, shortcut, RPReLU; see `tfbin.reactnet`), whose
  parts `learnable_bias`, `prelu` and `channel_scale` switch off one by one.

The stem convolution, the 1x1 downsampling shortcuts and the classifier stay
full precision unless `binary_stem`, `binary_downsample` and
`binary_classifier` (or `fully_binary` for all three) make them binary
convolutions of the model's kind. Larq Compute Engine has no binary Dense, so
the binary classifier is a 1x1 binary convolution on the pooled features,
followed by a BatchNormalization that LCE folds into it.

```python
import tfbin
from tfbin import zoo

model = zoo.resnet20(conv="mbn", weight_bases=3, activation_bases=3)
snn = zoo.resnet20(conv="snn", tau=5)                        # 5 bits per 3x3 kernel
react = zoo.resnet20(conv="relaxed", block="reactnet")       # for BNEW or BMD
fbnn = zoo.digits_resnet(conv="bnn", fully_binary=True)      # every convolution binary
```
"""
import tensorflow as tf

from tfbin import kinds
from tfbin.reactnet import ChannelScale, LearnableBias, RPReLU, RSign
from tfbin.validation import check_one_of

__all__ = [
    "BLOCKS",
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

# residual_net's blocks.
BLOCKS = ("bireal", "basic", "reactnet", "bottleneck")


def binary_conv(filters, kernel_size, strides=1, conv="bnn", name=None, input_quantizer=None, dilation_rate=1,
                **conv_kwargs):
    """A convolution of the kind `conv` names (`tfbin.kinds`), as the zoo's networks use it.

    `same` padding pads with +1 so Larq Compute Engine fuses the padding into
    its binary convolution. `input_quantizer` replaces the "ste_sign" of
    kinds that take one ("bnn", "relaxed") (with `tfbin.reactnet.RSign`, say).
    `conv_kwargs` go to the layer ("mbn": weight_bases, activation_bases,
    scaling; "snn": tau).
    """
    kind = kinds.get_kind(conv)
    if input_quantizer is not None and not kind.takes_input_quantizer:
        raise ValueError(
            f"input_quantizer applies to conv {', '.join(k for k in kinds.names() if _takes_sign(k))}, not {conv!r} "
            "(multi-base, sub-bit and IR-Net convolutions quantize their own inputs; a float one does not quantize)"
        )
    if kind.takes_input_quantizer:
        conv_kwargs["input_quantizer"] = input_quantizer or "ste_sign"
    return kind.build(filters=filters, kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate,
                      padding="same", use_bias=False, name=name, **conv_kwargs)


def _takes_sign(name):
    return kinds.get_kind(name).takes_input_quantizer


def _binary(x, filters, kernel_size, strides, spec, name, dilation=1):
    """A binary convolution of the model's kind; its input quantizer RSign, a larq sign or its own."""
    sign = RSign(name=f"{name}_rsign") if spec["sign"] == "rsign" else spec["sign"]
    return binary_conv(filters, kernel_size, strides, spec["conv"], name=name, input_quantizer=sign,
                       dilation_rate=dilation, **spec["layer"])(x)


def _binary_bn(x, filters, kernel_size, strides, spec, name, dilation=1, bn_name=None):
    """A binary convolution followed by its BatchNormalization."""
    y = _binary(x, filters, kernel_size, strides, spec, name, dilation)
    return tf.keras.layers.BatchNormalization(momentum=0.9, name=bn_name or f"{name}_bn")(y)


def _shortcut(x, filters, strides, spec, name):
    if strides == 1 and x.shape[-1] == filters:
        return x
    if strides != 1:
        x = tf.keras.layers.AveragePooling2D(strides, name=f"{name}_pool")(x)
    if spec["binary_downsample"]:
        x = _binary(x, filters, 1, 1, spec, f"{name}_down")
    else:
        x = tf.keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_down")(x)
    return tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_down_bn")(x)


def _bireal_block(x, filters, strides, spec, name, dilation=1):
    y = _binary_bn(x, filters, 3, strides, spec, f"{name}_conv", dilation, bn_name=f"{name}_bn")
    return tf.keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, strides, spec, name)])


def _basic_block(x, filters, strides, spec, name, dilation=1):
    y = _binary_bn(x, filters, 3, strides, spec, f"{name}_conv1", dilation, bn_name=f"{name}_bn1")
    y = _binary_bn(y, filters, 3, 1, spec, f"{name}_conv2", dilation, bn_name=f"{name}_bn2")
    return tf.keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, strides, spec, name)])


def _bottleneck_block(x, filters, strides, spec, name, dilation=1):
    """1x1 reduce to `filters`, 3x3 (with the stride), 1x1 expand to 4 x `filters` (ResNet-50's block)."""
    y = _binary_bn(x, filters, 1, 1, spec, f"{name}_reduce")
    y = _binary_bn(y, filters, 3, strides, spec, f"{name}_conv", dilation)
    y = _binary_bn(y, 4 * filters, 1, 1, spec, f"{name}_expand")
    return tf.keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, 4 * filters, strides, spec, name)])


def _reactnet_block(x, filters, strides, spec, name, dilation=1):
    """RSign -> binary 3x3 convolution -> scale -> BatchNorm -> + shortcut -> RPReLU (BNEW's ResNet-20 block)."""
    y = x
    if not kinds.get_kind(spec["conv"]).binary and spec["learnable_bias"]:
        y = LearnableBias(name=f"{name}_shift")(y)
    y = _binary(y, filters, 3, strides, spec, f"{name}_conv", dilation)
    if spec["channel_scale"]:
        y = ChannelScale(name=f"{name}_scale")(y)
    y = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(y)
    y = tf.keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, strides, spec, name)])
    if spec["prelu"] and spec["learnable_bias"]:
        return RPReLU(name=f"{name}_rprelu")(y)
    if spec["prelu"]:
        return tf.keras.layers.PReLU(tf.keras.initializers.Constant(0.25), shared_axes=[1, 2],
                                     name=f"{name}_prelu")(y)
    y = LearnableBias(name=f"{name}_shift_in")(y)
    y = tf.keras.layers.ReLU(name=f"{name}_relu")(y)
    return LearnableBias(name=f"{name}_shift_out")(y)


def _spec(conv, block, learnable_bias, prelu, channel_scale, binary_stem, binary_downsample, binary_classifier,
          layer_kwargs):
    check_one_of("block", block, BLOCKS)
    if block != "reactnet" and not (learnable_bias and prelu and channel_scale):
        raise ValueError("learnable_bias, prelu and channel_scale switch parts of block='reactnet' off; "
                         f"block={block!r} has none of them")
    if block == "reactnet" and not prelu and not learnable_bias:
        raise ValueError("prelu=False (a ReLU) needs learnable_bias=True: without the shifts the next "
                         "block's sign(relu(x)) is +1 everywhere")
    kind = kinds.get_kind(conv)
    if not kind.binary and (binary_stem or binary_downsample or binary_classifier):
        raise ValueError("binary_stem, binary_downsample, binary_classifier and fully_binary need binary "
                         f"convolutions; conv={conv!r} has none")
    sign = "ste_sign"
    if not kind.takes_input_quantizer:
        sign = None
    elif block == "reactnet":
        sign = "rsign" if learnable_bias else "approx_sign"
    return dict(conv=conv, layer=layer_kwargs, sign=sign, learnable_bias=learnable_bias, prelu=prelu,
                channel_scale=channel_scale, binary_stem=binary_stem, binary_downsample=binary_downsample,
                binary_classifier=binary_classifier)


def _model_spec(conv, block, weight_bases=1, activation_bases=1, scaling="both", tau=5, learnable_bias=True,
                prelu=True, channel_scale=True, binary_stem=False, binary_downsample=False, binary_classifier=False,
                fully_binary=False):
    """What every binary part of a zoo network is, from the builders' arguments."""
    if fully_binary:
        binary_stem = binary_downsample = binary_classifier = True
    given = dict(weight_bases=weight_bases, activation_bases=activation_bases, scaling=scaling, tau=tau)
    layer_kwargs = {option: given[option] for option in kinds.get_kind(conv).options}
    return _spec(conv, block, learnable_bias, prelu, channel_scale, binary_stem, binary_downsample,
                 binary_classifier, layer_kwargs)


def _backbone(inputs, stages, spec, block, stem_stride, stem_kernel, stem_pool):
    """The stem and the residual stages; returns the output of every stage.

    A stage is (filters, blocks, first_stride) or (filters, blocks,
    first_stride, dilation): a dilated stage keeps its resolution and widens
    the 3x3 convolutions' view instead (DeepLab's atrous backbone).
    """
    if spec["binary_stem"]:
        x = _binary(inputs, stages[0][0], stem_kernel, stem_stride, spec, "stem_conv")
    else:
        x = tf.keras.layers.Conv2D(
            stages[0][0], stem_kernel, strides=stem_stride, padding="same", use_bias=False, name="stem_conv"
        )(inputs)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    if stem_pool:
        x = tf.keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
    make_block = {
        "bireal": _bireal_block, "basic": _basic_block, "reactnet": _reactnet_block, "bottleneck": _bottleneck_block,
    }[block]
    features = []
    for s, (filters, blocks, first_stride, *dilation) in enumerate(stages):
        for b in range(blocks):
            strides = first_stride if b == 0 else 1
            x = make_block(x, filters, strides, spec, f"stage{s + 1}_block{b + 1}", *dilation)
        features.append(x)
    return features


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
    block="bireal",
    learnable_bias=True,
    prelu=True,
    channel_scale=True,
    binary_stem=False,
    binary_downsample=False,
    binary_classifier=False,
    fully_binary=False,
    tau=5,
):
    """A residual binary network.

    Arguments:
        stages: list of (filters, blocks, first_stride) per stage.
        conv: the kind of the binary convolutions (see the module).
        weight_bases: M of conv="mbn".
        activation_bases: N of conv="mbn".
        scaling: the scales of conv="mbn" (see `tfbin.layers.MultiBaseConv2D`).
        tau: bits per 3x3 kernel of conv="snn" (1..9).
        stem_stride: the stem convolution's stride.
        stem_kernel: the stem convolution's kernel size.
        stem_pool: an ImageNet-style max pool after the stem.
        name: the model's name.
        block: "bireal", "basic", "reactnet" or "bottleneck" (see the module).
        learnable_bias: a part of the "reactnet" block (on by default): RSign
            and RPReLU shifts (off: sign and PReLU).
        prelu: a part of the "reactnet" block (on by default): PReLU (off: a
            ReLU between two learnable shifts).
        channel_scale: a part of the "reactnet" block (on by default): a
            learnable scale per channel after each binary convolution.
        binary_stem: make the stem a binary convolution.
        binary_downsample: make the 1x1 downsampling shortcuts binary
            convolutions.
        binary_classifier: make the classifier a binary convolution (a 1x1
            one on the pooled features).
        fully_binary: all three.
    """
    spec = _model_spec(conv, block, weight_bases, activation_bases, scaling, tau, learnable_bias, prelu,
                       channel_scale, binary_stem, binary_downsample, binary_classifier, fully_binary)
    inputs = tf.keras.Input(input_shape)
    x = _backbone(inputs, stages, spec, block, stem_stride, stem_kernel, stem_pool)[-1]
    if spec["binary_classifier"]:
        # LCE has no binary Dense: a 1x1 binary convolution on the pooled features.
        x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
        x = _binary(x, num_classes, 1, 1, spec, "logits_conv")
        x = tf.keras.layers.BatchNormalization(momentum=0.9, name="logits_bn")(x)
        outputs = tf.keras.layers.Reshape((num_classes,), name="logits")(x)
    else:
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


def _blocks_per_basic(block):
    """How many of `block` make one basic block of two 3x3 convolutions (bottlenecks replace them one for one)."""
    return 1 if block in ("basic", "bottleneck") else 2


def _imagenet_resnet(depth, basic_blocks, input_shape, num_classes, width, block, kwargs):
    # A basic block of two 3x3 convolutions is two binary blocks with their own
    # shortcuts in "bireal" and "reactnet", one block under one shortcut in "basic".
    stages = [
        (width * 2**s, _blocks_per_basic(block) * blocks, 1 if s == 0 else 2) for s, blocks in enumerate(basic_blocks)
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


def resnet50(input_shape=(224, 224, 3), num_classes=1000, width=64, **kwargs):
    """ResNet-50 for ImageNet: stages of 3, 4, 6 and 3 bottleneck blocks (1x1, 3x3, 1x1): 48 binary convolutions.

    Every convolution of a bottleneck is binary; the stem, the 1x1
    downsampling shortcuts and the classifier stay full precision unless
    asked otherwise (see `residual_net`).
    """
    block = kwargs.pop("block", "bottleneck")
    if block != "bottleneck":
        raise ValueError(f"resnet50 is built of bottleneck blocks; got block={block!r}")
    return _imagenet_resnet(50, (3, 4, 6, 3), input_shape, num_classes, width, block, kwargs)


def vgg_small(input_shape=(32, 32, 3), num_classes=10, width=128, conv="bnn", name="vgg_small", **options):
    """VGG-Small for CIFAR (the LQ-Net / IR-Net network): 5 binary 3x3 convolutions.

    Six 3x3 convolutions of w, w, 2w, 2w, 4w and 4w filters, each followed by
    BatchNorm, with 2x2 max pooling after every second one, then a Dense
    classifier. The first convolution and the classifier stay full precision.
    `options` are `residual_net`'s layer options (weight_bases,
    activation_bases, scaling, tau).

    ```python
    import tfbin
    from tfbin import zoo

    model = zoo.vgg_small(conv="mbn", weight_bases=2, activation_bases=2)
    ```
    """
    spec = _model_spec(conv, "bireal", **options)
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    for index, filters in enumerate((width, 2 * width, 2 * width, 4 * width, 4 * width)):
        conv_name = f"conv{index + 1}"
        x = _binary(x, filters, 3, 1, spec, conv_name)
        if index % 2 == 0:  # after the 2nd, 4th and 6th convolution of the network
            x = tf.keras.layers.MaxPool2D(2, name=f"{conv_name}_pool")(x)
        x = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{conv_name}_bn")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    outputs = tf.keras.layers.Dense(num_classes, name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def deeplab(input_shape=(512, 1024, 3), num_classes=19, width=64, conv="bnn", block="bireal",
            aspp_rates=(1, 8, 12, 18), aspp_filters=256, low_level_filters=48, decoder_filters=256,
            name="deeplab", **options):
    """DeepLab (v3+) for semantic segmentation on a ResNet-18 backbone, as in PaBT's Cityscapes setup.

    The backbone is `resnet18`'s with its last stage (two basic blocks)
    dilated by 2 instead of strided, so features come out at 1/16 of the
    input. The ASPP module has one branch per rate in `aspp_rates` (a 1x1
    convolution for rate 1, 3x3 convolutions dilated by the others) and an
    image-pooling branch; the decoder upsamples by 4, joins the 1/4-resolution
    features of the first stage, refines with two 3x3 convolutions and
    upsamples the per-class logits to the input size. The backbone, ASPP and
    decoder convolutions are of kind `conv` (PaBT quantizes the backbone and
    the decoder); the stem, the image-pooling branch and the 1x1 classifier
    stay full precision. `options` are `residual_net`'s layer and block
    options (weight_bases, activation_bases, scaling, tau, binary_stem,
    binary_downsample, ...). Outputs (height, width, num_classes) logits;
    train with `tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True,
    ignore_class=255)` and score with `tfbin.metrics.MeanIoU`.

    ```python
    import tfbin
    from tfbin import zoo

    model = zoo.deeplab((64, 64, 3), num_classes=19, width=8, aspp_filters=32, decoder_filters=32,
                        conv="mbn", weight_bases=3, activation_bases=3)
    model.output_shape        # (None, 64, 64, 19)
    ```
    """
    height, width_px = input_shape[0], input_shape[1]
    if height is None or width_px is None or height % 16 or width_px % 16:
        raise ValueError(f"deeplab needs an input_shape whose height and width are multiples of 16, got {input_shape}")
    if not aspp_rates or any(not isinstance(rate, int) or rate < 1 for rate in aspp_rates):
        raise ValueError(f"aspp_rates must be positive integers, got {aspp_rates!r}")
    spec = _model_spec(conv, block, **options)
    blocks = 2 * _blocks_per_basic(block)
    stages = [(width, blocks, 1), (2 * width, blocks, 2), (4 * width, blocks, 2), (8 * width, blocks, 1, 2)]
    inputs = tf.keras.Input(input_shape)
    features = _backbone(inputs, stages, spec, block, stem_stride=2, stem_kernel=7, stem_pool=True)
    low_level, x = features[0], features[-1]

    branches = [
        _binary_bn(x, aspp_filters, 1 if rate == 1 else 3, 1, spec, f"aspp_rate{rate}", dilation=rate)
        for rate in aspp_rates
    ]
    pooled = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = tf.keras.layers.Conv2D(aspp_filters, 1, use_bias=False, name="aspp_pool_conv")(pooled)
    pooled = tf.keras.layers.BatchNormalization(momentum=0.9, name="aspp_pool_bn")(pooled)
    branches.append(tf.keras.layers.UpSampling2D((height // 16, width_px // 16), name="aspp_pool_up")(pooled))
    x = tf.keras.layers.Concatenate(name="aspp_concat")(branches)
    x = _binary_bn(x, aspp_filters, 1, 1, spec, "aspp_project")

    x = tf.keras.layers.UpSampling2D(4, interpolation="bilinear", name="decoder_up")(x)
    low_level = _binary_bn(low_level, low_level_filters, 1, 1, spec, "decoder_low")
    x = tf.keras.layers.Concatenate(name="decoder_concat")([x, low_level])
    x = _binary_bn(x, decoder_filters, 3, 1, spec, "decoder_conv1")
    x = _binary_bn(x, decoder_filters, 3, 1, spec, "decoder_conv2")
    x = tf.keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    outputs = tf.keras.layers.UpSampling2D(4, interpolation="bilinear", name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)
