import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import digits

from tfbin import choices, convert, layers, passes, pruning, quantizers, zoo
from tfbin.convert.parity import measure_parity
from tfbin.testing import realistic_weights


def trained_like(model):
    """BatchNorm statistics and scales as after training, so sums rarely tie at zero."""
    return realistic_weights(model, digits().x_train[:256], seed=0)


def x_digits(n=128):
    return digits().x_test[:n]


def test_batch_norm_after_several_live_convolutions_folds_into_them():
    model = trained_like(zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2))
    plain = pruning.strip_pruning(model)
    names = {layer.name for layer in plain.layers}
    for mbn in (layer for layer in model.layers if isinstance(layer, layers.MultiBaseConv2D)):
        assert mbn.name.replace("_conv", "_bn") not in names
        # One convolution per activation base, the two weight bases stacked along its outputs.
        convs = [layer for layer in plain.layers if layer.name.startswith(f"{mbn.name}_t")]
        assert [conv.filters for conv in convs] == [2 * mbn.filters] * 2
        assert sum(conv.use_bias for conv in convs) == 1
    parity = measure_parity(model.predict(x_digits(), verbose=0), plain.predict(x_digits(), verbose=0))
    assert parity.argmax_agreement == 1.0 and parity.median_rel_error < 1e-5
    census = convert.convert(model, calibration_data=x_digits()).census
    assert "MUL" not in census and census["LceBconv2d"] == 8


def test_single_live_convolution_keeps_its_batch_norm_for_lce_to_fold():
    model = trained_like(zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2))
    for layer in model.layers:
        if isinstance(layer, layers.MultiBaseConv2D):
            layer.mask.assign([[0, 1], [0, 0]])
    plain = pruning.strip_pruning(model)
    assert plain.get_layer("stage1_block1_bn")
    assert isinstance(plain.get_layer("stage1_block1_conv"), lq.layers.QuantConv2D)
    np.testing.assert_allclose(plain.predict(x_digits(), verbose=0), model.predict(x_digits(), verbose=0),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("quantizer, emulated", [
    ("ste_sign", True), (quantizers.ShiftedSign(0.5), True), ("approx_sign", True), ("ste_heaviside", False),
], ids=["ste_sign", "shifted", "approx_sign", "heaviside"])
def test_zero_padding_is_emulated_behind_threshold_signs_only(quantizer, emulated):
    inputs = tf.keras.Input((4, 4, 8))
    conv = lq.layers.QuantConv2D(8, 3, dilation_rate=2, padding="same", input_quantizer=quantizer,
                                 kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="wide")
    plain = pruning.strip_pruning(tf.keras.Model(inputs, conv(inputs)))
    assert ("wide_pad_plus" in [layer.name for layer in plain.layers]) is emulated


def test_each_target_runs_its_own_passes_in_order():
    assert set(passes.TARGET_PASSES) == set(choices.TARGETS)
    assert [p.name for p in passes.pipeline("lce")] == [
        "export_rules", "remove_masked_filters", "merge_dilated_siblings", "emulate_zero_padding"]
    assert [p.name for p in passes.pipeline("openvino")] == [
        "export_rules", "remove_masked_filters", "emulate_zero_padding", "explicit_same_padding"]
    with pytest.raises(ValueError, match="target must be one of lce, openvino"):
        pruning.strip_pruning(zoo.digits_resnet(width=4), target="tvm")


def test_a_float_same_convolution_after_zero_padding_pads_explicitly_for_openvino_only():
    inputs = tf.keras.Input((9, 9, 3))
    padded = tf.keras.layers.ZeroPadding2D(((1, 0), (0, 1)))(inputs)
    binary = lq.layers.QuantConv2D(4, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                   name="binary")(padded)
    outputs = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same", name="float")(padded)
    model = tf.keras.Model(inputs, [binary, outputs])
    x = np.random.default_rng(0).standard_normal((4, 9, 9, 3)).astype(np.float32)
    for target, explicit in [("lce", False), ("openvino", True)]:
        plain = pruning.strip_pruning(model, target=target)
        names = [layer.name for layer in plain.layers]
        assert ("float_same_padding" in names) is explicit and "binary_same_padding" not in names
        assert plain.get_layer("float").padding == ("valid" if explicit else "same")
        for got, expected in zip(plain.predict(x, verbose=0), model.predict(x, verbose=0)):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_dilated_siblings_are_merged_for_lce_only():
    inputs = tf.keras.Input((12, 12, 8))
    convs = [lq.layers.QuantConv2D(8, 3, dilation_rate=2, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                                   kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name=f"branch{i}")
             for i in range(2)]
    model = tf.keras.Model(inputs, tf.keras.layers.Add()([conv(inputs) for conv in convs]))
    x = np.random.default_rng(0).standard_normal((4, 12, 12, 8)).astype(np.float32)
    for target, merged in [("lce", True), ("openvino", False)]:
        plain = pruning.strip_pruning(model, target=target)
        names = [layer.name for layer in plain.layers]
        assert ("branch0_shared_input" in names) is merged and ("branch1" in names)
        np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
