import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import BINARY, digits, every_binary_kind_model, pruned_channel_model, tamper, tiny_net

from tfbin import cost
from tfbin.convert import (
    ConversionError,
    FloatFallbackError,
    ParityError,
    baselines,
    check_parity,
    convert,
    flatbuffer,
    measure_parity,
)
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT, Parity
from tfbin.layers import MultiBaseConv2D
from tfbin.testing import realistic_weights


@pytest.fixture(scope="module")
def bnn():
    model = tiny_net("bnn")
    return model, convert(model, calibration_data=digits().x_test)


@pytest.mark.parametrize("weight_bases", [1, 2, 3])
@pytest.mark.parametrize("activation_bases", [1, 2, 3])
def test_parity_holds_for_every_multi_base_shape(weight_bases, activation_bases):
    model = tiny_net("mbn", weight_bases, activation_bases, seed=weight_bases * 3 + activation_bases)
    result = convert(model, calibration_data=digits().x_test)
    # Two binary layers, each one LceBconv2d per activation base with the weight bases stacked in it,
    # their slices summed once per layer.
    assert result.census["LceBconv2d"] == result.census["LceQuantize"] == 2 * activation_bases
    assert result.census.get("SUM", 0) == (2 if weight_bases > 1 else 0)
    assert result.census.get("CONV_2D") == 2  # the stem and the downsampling shortcut only
    assert result.binary_layers == 2 * activation_bases and result.float_fallbacks == []
    assert set(result.timings) == {"strip_s", "lce_s", "checks_s", "parity_s", "total_s"}
    assert sum(result.timings.values()) == pytest.approx(2 * result.timings["total_s"])
    parity = result.parity
    assert parity.samples == len(digits().x_test)
    assert parity.argmax_agreement == 1.0
    # Measured 3e-7 to 3e-6: four orders of magnitude inside the tolerance.
    assert parity.p90_rel_error < 1e-5 < MAX_P90_REL_ERROR


def test_pabt_pruned_model_has_the_census_of_a_bnn(bnn):
    model = tiny_net("mbn", 3, 3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, MultiBaseConv2D):
            mask = np.zeros((3, 3), np.float32)
            mask[rng.integers(3), 1] = 1.0  # activation base 1 has threshold 0, as a BNN's sign
            layer.mask.assign(mask)
    result = convert(model, calibration_data=digits().x_test)
    assert result.census == bnn[1].census
    assert result.parity.faithful()


def test_binary_filters_are_the_keras_kernels_bit_for_bit(bnn):
    model, result = bnn
    kernels = [  # ste_sign of the latent weights, 0 mapping to +1
        np.where(layer.get_weights()[0] >= 0, 1.0, -1.0)
        for layer in model.layers
        if isinstance(layer, lq.layers.QuantConv2D)
    ]
    filters = flatbuffer.binary_filters(result.tflite)
    assert len(filters) == len(kernels) == 2
    for kernel, binary in zip(kernels, filters):
        np.testing.assert_array_equal(np.moveaxis(kernel, -1, 0), binary)


def test_flatbuffer_cost_matches_the_keras_cost_model(bnn):
    model, result = bnn
    assert flatbuffer.flatbuffer_cost(result.tflite)["bit_ops"] == cost.model_cost(model).bit_ops


def test_float_fallback_is_an_error_naming_the_layer():
    model = pruned_channel_model()
    x = np.random.default_rng(1).standard_normal((32, 8, 8, 32)).astype(np.float32)
    with pytest.raises(FloatFallbackError, match="pruned_conv: its kernel has 288 zero weight") as error:
        convert(model, calibration_data=x)
    assert [name for name, _ in error.value.layers] == ["pruned_conv"]
    assert "intact_conv" not in str(error.value)

    result = convert(model, calibration_data=x, allow_float_fallback=True)
    assert [name for name, _ in result.float_fallbacks] == ["pruned_conv"]
    assert result.census["LceBconv2d"] == 1 and result.census["CONV_2D"] == 1


def test_binary_dense_classifier_becomes_an_lce_binary_convolution():
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(32, 3, padding="same")(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, use_bias=False, name="conv", **BINARY)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = lq.layers.QuantDense(10, name="classifier", **BINARY)(x)
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(x))
    model = realistic_weights(model, digits().x_train[:256], seed=1)
    result = convert(model, calibration_data=digits().x_test)
    assert result.binary_layers == 2 and result.float_fallbacks == []
    assert result.census["LceBconv2d"] == 2 and "FULLY_CONNECTED" not in result.census
    # The classifier's own filter, bit for bit: 10 outputs of a 1x1 kernel over 64 features.
    shapes = sorted(f.shape for f in flatbuffer.binary_filters(result.tflite))
    assert shapes == [(10, 1, 1, 64), (64, 3, 3, 32)]
    assert result.parity.argmax_agreement >= MIN_AGREEMENT and result.parity.p90_rel_error < 1e-4


def test_binary_dense_and_conv1d_over_sequences_become_binary_convolutions():
    inputs = tf.keras.Input((12, 32))
    x = lq.layers.QuantConv1D(32, 3, padding="same", pad_values=1.0, strides=2, name="conv1d", **BINARY)(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantDense(16, name="per_step_dense", **BINARY)(x)
    model = realistic_weights(tf.keras.Model(inputs, x), np.random.default_rng(0).standard_normal((64, 12, 32)))
    result = convert(model, calibration_data=np.random.default_rng(1).standard_normal((64, 12, 32)).astype("f4"))
    assert result.census["LceBconv2d"] == 2 and result.float_fallbacks == []
    assert result.parity.argmax_agreement >= MIN_AGREEMENT


def test_every_binary_kind_is_converted_or_refused_by_name():
    model = every_binary_kind_model()
    refused = ["binary_depthwise", "binary_separable", "binary_transposed", "float_input_dense"]
    with pytest.raises(FloatFallbackError) as error:
        convert(model, calibration_data=digits().x_test)
    assert [name for name, _ in error.value.layers] == refused
    reasons = dict(error.value.layers)
    assert "no binary depthwise convolution" in reasons["binary_depthwise"]
    assert "multiple of 32 input channels per group" in reasons["binary_depthwise"]
    assert "its input" in reasons["float_input_dense"] and "FULLY_CONNECTED" in reasons["float_input_dense"]
    assert "allow_float_fallback=True" in str(error.value)

    result = convert(model, calibration_data=digits().x_test, allow_float_fallback=True)
    assert [name for name, _ in result.float_fallbacks] == refused
    assert result.binary_layers == 6 and result.census["LceBconv2d"] == 2  # binary_conv, binary_dense
    assert result.census["DEPTHWISE_CONV_2D"] == 2 and result.census["TRANSPOSE_CONV"] == 1
    assert [entry["layer"] for entry in result.to_dict()["float_fallbacks"]] == refused
    assert result.parity.argmax_agreement >= MIN_AGREEMENT


def test_binary_conv3d_is_refused_by_name():
    inputs = tf.keras.Input((4, 4, 4, 8))
    x = lq.layers.QuantConv3D(8, 3, padding="same", name="binary_conv3d", **BINARY)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling3D()(x))
    with pytest.raises(FloatFallbackError, match="binary_conv3d: LCE has no binary 3D convolution"):
        convert(model, calibration_data=np.ones((4, 4, 4, 4, 8), np.float32))


def test_layers_lce_cannot_run_are_refused_by_name():
    inputs = tf.keras.Input((4,))
    doubled = tf.keras.layers.Lambda(
        lambda t: tf.ensure_shape(tf.numpy_function(lambda a: 2 * a, [t], tf.float32), (None, 4)),
        name="python_layer",
    )(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(doubled))
    with pytest.raises(ConversionError, match="PyFunc.*python_layer"):
        convert(model, calibration_data=np.ones((4, 4), np.float32))


def test_tampered_multiplier_is_refused_by_parity(bnn):
    model, result = bnn
    broken = tamper(result.tflite, "LceBconv2d", 2, lambda multiplier: -multiplier)
    with pytest.raises(ParityError) as error:
        check_parity(model, broken, digits().x_test)
    parity = error.value.parity
    assert parity.p90_rel_error > 10 * MAX_P90_REL_ERROR
    # The fixed tolerance failed, so the rounding floor was measured: a shallow
    # net barely moves under rounding noise, so it widens nothing.
    assert parity.floor_p90_rel_error < 1e-3
    assert parity.allowed() == (MIN_AGREEMENT, MAX_P90_REL_ERROR)


def test_tampered_filter_bits_are_refused(bnn, monkeypatch):
    from tfbin.convert import converter

    model, result = bnn
    broken = tamper(result.tflite, "LceBconv2d", 1, lambda words: words ^ 0x5)
    monkeypatch.setattr(converter, "lce_flatbuffer", lambda _: broken)
    with pytest.raises(ConversionError, match="filters in the flatbuffer differ"):
        convert(model, calibration_data=digits().x_test)


def test_argmax_ties_count_as_agreement_but_real_changes_do_not():
    reference = np.array([[1.0, 3.0, 3.0], [0.0, 2.0, 1.0]])
    tie_flip = reference + np.array([[0.0, 0.0, 1e-7], [0.0, 0.0, 0.0]])
    assert measure_parity(reference, tie_flip).argmax_agreement == 1.0
    wrong = np.array([[1.0, 3.0, 3.0], [0.0, 1.0, 2.0]])
    parity = measure_parity(reference, wrong)
    assert parity.argmax_agreement == 0.5 and not parity.faithful()


def test_random_calibration_warns_that_real_data_judges_better(bnn):
    model, _ = bnn
    with pytest.warns(UserWarning, match="real data"):
        result = convert(model, samples=16)
    assert result.parity.samples == 16


def test_baselines_are_the_same_architecture_in_float_and_int8(bnn):
    model, lce = bnn
    x = digits().x_test
    fp32 = baselines.baseline("float", model, x)
    int8 = baselines.baseline("int8", model, x)
    assert fp32.census["CONV_2D"] == int8.census["CONV_2D"] == 4  # two binary + stem + shortcut
    assert "LceBconv2d" not in fp32.census and "LceBconv2d" not in int8.census
    assert fp32.parity.p90_rel_error < 1e-5
    assert int8.parity.argmax_agreement > 0.8  # post-training quantization stays close
    assert int8.size_bytes < fp32.size_bytes
    float_layers = [type(layer).__name__ for layer in baselines.float_model(model).layers]
    assert "QuantConv2D" not in float_layers and float_layers.count("Conv2D") == 4


def test_float_baseline_of_a_multi_base_model():
    model = tiny_net("mbn", 2, 2)
    fp32 = baselines.baseline("float", model, digits().x_test[:64])
    assert fp32.census["CONV_2D"] == 4 and fp32.parity.faithful()


def test_a_chaotic_model_is_judged_against_its_own_rounding_floor():
    # ResNet-18-shaped BNNs (benchmarks/deploy.py) measure like this: Keras
    # moves by p90 0.27 under rounding noise, LCE by 0.12, a wrong scale by 1.5.
    faithful = Parity(0.4, 1.0, 0.02, 0.12, 8, floor_agreement=0.75, floor_p90_rel_error=0.27)
    assert faithful.allowed() == (0.5, 0.54) and faithful.faithful()
    assert not Parity(3.5, 0.0, 1.3, 1.5, 8, floor_agreement=0.75, floor_p90_rel_error=0.27).faithful()
    assert not Parity(0.4, 1.0, 0.02, 0.12, 8).faithful()  # without the floor: the fixed tolerance
