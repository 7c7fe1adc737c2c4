import numpy as np
import pytest
import tensorflow as tf
import larq as lq


from tfbin import data, layers, transfer, zoo


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


def test_float_twin_has_float_convolutions_where_the_binary_ones_were():
    mbn = zoo.digits_resnet(width=8, conv="mbn", weight_bases=3, activation_bases=2)
    twin = transfer.float_twin(mbn)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in mbn.layers]
    for binary, real in zip(mbn.layers, twin.layers):
        if isinstance(binary, lq.layers.QuantConv2D):
            assert type(real) is tf.keras.layers.Conv2D
            assert real.kernel.shape == (*binary.kernel_size, binary.kernel.shape[2], binary.filters)
            assert (real.strides, real.padding, real.use_bias) == (binary.strides, binary.padding, binary.use_bias)
        else:
            assert type(real) is type(binary)
    transfer.init_from_float(mbn, twin)  # the twin pairs with its binary net
    bnn_twin = transfer.float_twin(zoo.digits_resnet(width=8, conv="bnn"))
    assert not [layer for layer in bnn_twin.layers if isinstance(layer, lq.layers.QuantConv2D)]


def test_pretrain_float_initialises_the_binary_net_with_statistics_of_its_own():
    digits = data.digits_arrays()
    subset = data.Arrays(digits.x_train[:512], digits.y_train[:512], digits.x_test[:256], digits.y_test[:256], 10)
    tf.keras.utils.set_random_seed(0)
    mbn = zoo.digits_resnet(width=8, conv="mbn", weight_bases=3, activation_bases=3)
    float_model, history = transfer.pretrain_float(mbn, subset, epochs=8, verbose=0)
    assert len(history.history["loss"]) == 8
    _, float_accuracy = float_model.evaluate(subset.x_test, subset.y_test, verbose=0)
    # The same copy with the float net's own BatchNorm statistics, as init_from_float alone leaves it.
    copied = zoo.digits_resnet(width=8, conv="mbn", weight_bases=3, activation_bases=3)
    transfer.init_from_float(copied, float_model)
    for model in (mbn, copied):
        model.compile(metrics=["accuracy"], loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _, with_float_statistics = copied.evaluate(subset.x_test, subset.y_test, verbose=0)
    _, reestimated = mbn.evaluate(subset.x_test, subset.y_test, verbose=0)
    assert float_accuracy > 0.4  # the float net learnt something to start from (chance: 0.1)
    assert reestimated > with_float_statistics + 0.1
    norms = [layer for layer in mbn.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    float_norms = [layer for layer in float_model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert not np.allclose(norms[1].moving_variance.numpy(), float_norms[1].moving_variance.numpy())
    np.testing.assert_array_equal(norms[1].gamma.numpy(), float_norms[1].gamma.numpy())
