import numpy as np
import pytest
import tensorflow as tf

from tfbin import layers, transfer, zoo


def _randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.set_weights([rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("bases", [1, 3])
def test_multi_base_layers_take_abc_net_bases_and_the_rest_is_copied(bases):
    float_model = _randomise(zoo.digits_resnet(width=8, conv="float"))
    mbn = zoo.digits_resnet(width=8, conv="mbn", weight_bases=bases, activation_bases=2)
    transfer.init_from_float(mbn, float_model)
    for target, source in zip(mbn.layers, float_model.layers):
        if isinstance(target, layers.MultiBaseConv2D):
            kernel = source.kernel.numpy()
            approx = sum(target.weight_base(m) * target.alpha.numpy()[m] for m in range(bases))
            error = np.linalg.norm(approx - kernel) / np.linalg.norm(kernel)
            # For Gaussian weights the best 1-bit approximation leaves a relative
            # error of sqrt(1 - 2/pi) = 0.60; three ABC-Net bases do much better.
            assert error < (0.65 if bases == 1 else 0.40)
            latent = target.kernel.latent_variable.numpy()
            assert set(np.unique(latent)) <= {-1.0, 1.0}
        else:
            for a, b in zip(target.get_weights(), source.get_weights()):
                np.testing.assert_array_equal(a, b)


def test_bnn_takes_the_float_kernels():
    float_model = _randomise(zoo.digits_resnet(width=8, conv="float"))
    bnn = zoo.digits_resnet(width=8, conv="bnn")
    transfer.init_from_float(bnn, float_model)
    conv = bnn.get_layer("stage1_block1_conv")
    np.testing.assert_array_equal(conv.get_weights()[0], float_model.get_layer("stage1_block1_conv").kernel.numpy())


def test_mismatched_architectures_are_refused():
    float_model = zoo.digits_resnet(width=8, conv="float")
    with pytest.raises(ValueError, match="differ in architecture"):
        transfer.init_from_float(zoo.resnet20(width=8, conv="mbn"), float_model)
    with pytest.raises(ValueError, match="weight shapes"):
        transfer.init_from_float(zoo.digits_resnet(width=16, conv="mbn"), float_model)
    one_mbn = tf.keras.Sequential([tf.keras.Input((4, 4, 1)), layers.MultiBaseConv2D(3, 3)])
    batch_norm = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="has no kernel"):
        transfer.init_from_float(one_mbn, batch_norm)
