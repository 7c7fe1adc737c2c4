import numpy as np
import tensorflow as tf

import larq as lq
from tfbin import convert, export, layers, zoo
from tfbin.convert.parity import measure_parity


def trained_like(model, seed=0):
    """BatchNorm statistics and scales as after training, so sums rarely tie at zero."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2, var.shape) * 50])
        if isinstance(layer, layers.MultiBaseConv2D):
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
    return model


def x_digits(n=128):
    return np.random.default_rng(1).standard_normal((n, 8, 8, 1)).astype(np.float32)


def test_batch_norm_after_several_live_convolutions_folds_into_them():
    model = trained_like(zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2))
    plain = export.strip(model)
    names = {layer.name for layer in plain.layers}
    for mbn in (layer for layer in model.layers if isinstance(layer, layers.MultiBaseConv2D)):
        assert mbn.name.replace("_conv", "_bn") not in names
        convs = [layer for layer in plain.layers if layer.name.startswith(f"{mbn.name}_w")]
        assert len(convs) == 4 and sum(conv.use_bias for conv in convs) == 1
    parity = measure_parity(model.predict(x_digits(), verbose=0), plain.predict(x_digits(), verbose=0))
    assert parity.argmax_agreement == 1.0 and parity.median_rel_error < 1e-5
    census = convert.convert(model, calibration_data=x_digits()).census
    assert "MUL" not in census and census["LceBconv2d"] == 16


def test_single_live_convolution_keeps_its_batch_norm_for_lce_to_fold():
    model = trained_like(zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2))
    for layer in model.layers:
        if isinstance(layer, layers.MultiBaseConv2D):
            layer.mask.assign([[0, 1], [0, 0]])
    plain = export.strip(model)
    assert plain.get_layer("stage1_block1_bn")
    assert isinstance(plain.get_layer("stage1_block1_conv"), lq.layers.QuantConv2D)
    np.testing.assert_allclose(plain.predict(x_digits(), verbose=0), model.predict(x_digits(), verbose=0),
                               rtol=1e-4, atol=1e-4)
