"""Every multi-base shape converts to LCE binary convolutions, dilated or strided, with any thresholds.

The grid (M, N) in {1..4}^2 x stride {1, 2} x dilation {1, 2} x pad_values
{0, 1} x threshold spread {0, 1} as one model with many layers rather than
hundreds of conversions: one residual branch per (M, N) and threshold spread,
each with its own 10-class head, so that parity is judged per grid cell. A
branch chains blocks on a 16x16 input: stride 2, dilation 2 and plain with one
pad value, then stride 2 and dilation 2 with the other. The dilated 3x3
kernel is then wider than its 4x4 input in the last block, the case where LCE
needs zero padding emulated; the order of the pad values alternates with the
spread so that both dilated sizes meet both pad values.
"""
import larq as lq
import numpy as np
import tensorflow as tf
from _convert_helpers import digits

from tfbin.convert import convert
from tfbin.convert.converter import lce_predict
from tfbin.convert.parity import MIN_AGREEMENT, keras_predict, measure_parity
from tfbin.layers import MultiBaseConv2D
from tfbin.pruning import strip_pruning
from tfbin.testing import realistic_weights

BASES = [(m, n) for m in range(1, 5) for n in range(1, 5)]
SPREADS = (0.0, 1.0)


def blocks(spread):
    """(strides, dilation, pad_values) of the blocks of one branch, in order."""
    first, second = (1.0, 0.0) if spread == 0 else (0.0, 1.0)
    return [(2, 1, first), (1, 2, first), (1, 1, first), (2, 1, second), (1, 2, second)]


def _block(x, name, strides, dilation, **mbn):
    y = MultiBaseConv2D(8, 3, strides=strides, dilation_rate=dilation, padding="same", use_bias=False,
                        name=name, **mbn)(x)
    y = tf.keras.layers.BatchNormalization(name=f"{name}_bn")(y)
    shortcut = tf.keras.layers.AveragePooling2D(strides, name=f"{name}_pool")(x) if strides > 1 else x
    return tf.keras.layers.Add(name=f"{name}_add")([y, shortcut])


def grid_model():
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.UpSampling2D(2)(inputs)
    x = tf.keras.layers.BatchNormalization()(tf.keras.layers.Conv2D(8, 3, padding="same", name="stem")(x))
    heads = []
    for m, n in BASES:
        for spread in SPREADS:
            y = x
            for i, (strides, dilation, pad) in enumerate(blocks(spread)):
                y = _block(y, f"m{m}n{n}t{spread:.0f}_s{strides}d{dilation}p{pad:.0f}_{i}", strides, dilation,
                           weight_bases=m, activation_bases=n, threshold_spread=spread, pad_values=pad)
            heads.append(tf.keras.layers.Dense(10)(tf.keras.layers.GlobalAveragePooling2D()(y)))
    return tf.keras.Model(inputs, tf.keras.layers.Concatenate()(heads), name="grid")


def _expected_bconvs(model):
    """One LceBconv2d per distinct threshold of each layer, two where zero padding sticks out on both sides."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, MultiBaseConv2D):
            distinct = len(set(np.round(tf.keras.backend.get_value(layer.thresholds), 6)))
            extent = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] + 1
            wide = layer.pad_values == 0 and extent > layer.input_shape[1]
            count += distinct * (2 if wide else 1)
    return count


def test_every_multi_base_shape_converts_to_binary_convolutions():
    model = realistic_weights(grid_model(), digits().x_train[:256], seed=0)
    x = digits().x_test[:300]  # not used for the BatchNorm statistics
    result = convert(model, calibration_data=x)  # raises on any float fallback
    assert result.float_fallbacks == [], result.describe_timings()
    wide = [layer.name for layer in model.layers if layer.name.endswith("s1d2p0_4")]
    assert len(wide) == 16 and all(model.get_layer(name).input_shape[1] == 4 for name in wide)
    assert result.census["CONV_2D"] == 1  # the stem; every binary convolution is an LceBconv2d
    assert result.census["LceBconv2d"] == _expected_bconvs(model)
    keras = keras_predict(model, x).reshape(len(x), -1, 10)
    lce = lce_predict(result.tflite, x).reshape(len(x), -1, 10)
    cells = [(m, n, spread) for m, n in BASES for spread in SPREADS]
    for i, cell in enumerate(cells):
        parity = measure_parity(keras[:, i], lce[:, i])
        assert parity.argmax_agreement >= MIN_AGREEMENT and parity.p90_rel_error < 1e-3, (cell, parity.describe())


def deeplab_head_model():
    """A dilated residual block and an ASPP head whose binary branches read one tensor.

    Dilation rates 1, 2 and 4 on an 8x8 map (DeepLab's {1, 8, 12, 18} scaled
    down with the map: at rate 4 with zero padding the 3x3 kernel is wider
    than its input), plus two 1-bit branches with the same rate and settings,
    which LCE binarizes only once they are merged into one convolution.
    """
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.BatchNormalization()(tf.keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs))
    y = MultiBaseConv2D(32, 3, weight_bases=3, activation_bases=3, dilation_rate=2, padding="same",
                        pad_values=1.0, use_bias=False, name="dilated_block")(x)
    x = tf.keras.layers.Add()([tf.keras.layers.BatchNormalization()(y), x])
    branches = [
        MultiBaseConv2D(16, 1, weight_bases=2, activation_bases=2, use_bias=False, name="aspp_rate1")(x),
        MultiBaseConv2D(16, 3, weight_bases=2, activation_bases=2, dilation_rate=2, padding="same",
                        pad_values=1.0, use_bias=False, name="aspp_rate2")(x),
        MultiBaseConv2D(16, 3, weight_bases=2, activation_bases=2, dilation_rate=4, padding="same",
                        pad_values=0.0, use_bias=False, name="aspp_rate4")(x),
    ]
    branches += [
        lq.layers.QuantConv2D(16, 3, dilation_rate=2, padding="same", pad_values=1.0, use_bias=False, name=name,
                              input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")(x)
        for name in ("twin_a", "twin_b")
    ]
    y = tf.keras.layers.Concatenate()([tf.keras.layers.BatchNormalization()(b) for b in branches])
    y = tf.keras.layers.Conv2D(10, 1, name="classifier")(y)
    return tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(y), name="deeplab_head")


def test_dilated_block_and_aspp_head_convert_to_binary_convolutions():
    model = realistic_weights(deeplab_head_model(), digits().x_train[:256], seed=5)
    plain = strip_pruning(model)
    merged = [layer for layer in plain.layers if layer.name.endswith("_shared_input")]
    assert [layer.filters for layer in merged] == [32]  # the twins, one convolution
    result = convert(model, calibration_data=digits().x_test)
    assert result.float_fallbacks == [] and result.census["CONV_2D"] == 2  # stem and classifier
    # 3 + 2 + 2 + 2 x 2 (rate 4, zero padding emulated) + 1 (the twins)
    assert result.census["LceBconv2d"] == 12
    assert result.parity.argmax_agreement >= MIN_AGREEMENT and result.parity.p90_rel_error < 1e-3
