import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from tfbin.quantizers import ErrorDecaySign, LibraSign, ShiftedSign, WeightBaseSign

QUANTIZERS = [WeightBaseSign(), ShiftedSign(threshold=0.25, clip_value=0.5), ShiftedSign(clip_value=None),
              ErrorDecaySign(t=0.3), LibraSign(t=2.0)]


def value_and_gradient(quantizer, values):
    x = tf.constant(values, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = quantizer(x)
    return y.numpy(), tape.gradient(y, x).numpy()


def test_weight_base_sign_maps_zero_to_plus_one_and_passes_gradients_unclipped():
    y, grad = value_and_gradient(WeightBaseSign(), [-3.0, -1.0, -0.2, 0.0, 0.4, 1.0, 5.0])
    np.testing.assert_array_equal(y, [-1, -1, -1, 1, 1, 1, 1])
    # Bop reads the raw gradient of a +-1 variable; clipping at |w| <= 1 would be arbitrary.
    np.testing.assert_array_equal(grad, np.ones(7))


def test_shifted_sign_subtracts_its_threshold():
    y, _ = value_and_gradient(ShiftedSign(threshold=0.5), [-1.0, 0.4, 0.5, 0.6, 2.0])
    np.testing.assert_array_equal(y, [-1, -1, 1, 1, 1])
    y, _ = value_and_gradient(ShiftedSign(), [-0.1, 0.0, 0.1])
    np.testing.assert_array_equal(y, [-1, 1, 1])


def test_shifted_sign_gradient_is_clipped_around_its_threshold():
    values = [-0.6, -0.4, 0.0, 0.4, 0.8, 1.1]
    _, grad = value_and_gradient(ShiftedSign(threshold=0.5, clip_value=0.5), values)
    np.testing.assert_array_equal(grad, [0, 0, 1, 1, 1, 0])  # |x - 0.5| <= 0.5
    _, grad = value_and_gradient(ShiftedSign(clip_value=None), values)
    np.testing.assert_array_equal(grad, np.ones(6))


def test_shifted_sign_matches_larq_ste_sign_at_threshold_zero():
    x = np.random.default_rng(0).normal(scale=2.0, size=100).astype(np.float32)
    y, grad = value_and_gradient(ShiftedSign(), x)
    expected, expected_grad = value_and_gradient(lq.quantizers.SteSign(), x)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize("clip_value", [0.0, -1.0])
def test_shifted_sign_rejects_non_positive_clip_value(clip_value):
    with pytest.raises(ValueError, match="clip_value must be positive or None"):
        ShiftedSign(clip_value=clip_value)


@pytest.mark.parametrize("quantizer", QUANTIZERS, ids=lambda q: type(q).__name__)
def test_quantizers_are_one_bit(quantizer):
    assert quantizer.precision == 1
    assert isinstance(quantizer, lq.quantizers.Quantizer)


@pytest.mark.parametrize("quantizer", QUANTIZERS, ids=lambda q: type(q).__name__)
def test_keras_serialization_round_trip(quantizer):
    config = tf.keras.utils.serialize_keras_object(quantizer)
    assert config["registered_name"] == f"tfbin>{type(quantizer).__name__}"
    clone = tf.keras.utils.deserialize_keras_object(config)
    assert type(clone) is type(quantizer)
    assert clone.get_config() == quantizer.get_config()
    x = np.linspace(-2, 2, 41).astype(np.float32)
    np.testing.assert_array_equal(clone(x).numpy(), quantizer(x).numpy())


@pytest.mark.parametrize("quantizer", QUANTIZERS, ids=lambda q: type(q).__name__)
def test_larq_serialization_round_trip(quantizer):
    for legacy in (False, True):
        config = lq.quantizers.serialize(quantizer, use_legacy_format=legacy)
        clone = lq.quantizers.get(config)
        assert type(clone) is type(quantizer)
        assert clone.get_config() == quantizer.get_config()


def test_quantizers_resolve_by_bare_name():
    # Larq layers accept quantizers by name, as the legacy .h5 loader does.
    assert isinstance(lq.quantizers.get("WeightBaseSign"), WeightBaseSign)
    assert isinstance(lq.quantizers.get("ShiftedSign"), ShiftedSign)
    layer = lq.layers.QuantConv2D(4, 3, input_quantizer="ShiftedSign", kernel_quantizer="WeightBaseSign")
    assert isinstance(layer.kernel_quantizer, WeightBaseSign)


def test_larq_sees_weight_base_kernels_as_binary():
    inputs = tf.keras.Input((6, 6, 3))
    conv = lq.layers.QuantConv2D(
        4, 3, input_quantizer=ShiftedSign(threshold=0.3), kernel_quantizer=WeightBaseSign(),
        kernel_constraint="weight_clip", use_bias=False, name="conv",
    )
    model = tf.keras.Model(inputs, conv(inputs))
    assert lq.optimizers.Bop.is_binary_variable(conv.kernel)
    profile = next(p for p in lq.models.ModelProfile(model).layer_profiles if p.name == "conv")
    assert profile.weight_count(bitwidth=1) == 3 * 3 * 3 * 4
    assert profile.op_count("mac", precision=1) == 3 * 3 * 3 * 4 * 4 * 4
