import numpy as np
import pytest
import tensorflow as tf

from tfbin import batchnorm, data, optimizers, zoo
from tfbin.layers import MultiBaseConv2D

from _fit_helpers import VariancesAtEpochEnd, reshuffling_pipeline


@pytest.fixture(scope="module")
def digits():
    arrays = data.digits_arrays()
    return arrays.x_train[:512], arrays.y_train[:512], arrays.x_test[:256], arrays.y_test[:256]


def _statistics(model):
    return [(layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy())
            for layer in batchnorm.batch_norm_layers(model)]


def test_statistics_are_the_average_of_the_batch_statistics():
    tf.keras.utils.set_random_seed(0)
    dense1, dense2 = tf.keras.layers.Dense(3), tf.keras.layers.Dense(2)
    bn1, bn2 = tf.keras.layers.BatchNormalization(), tf.keras.layers.BatchNormalization()
    model = tf.keras.Sequential([tf.keras.Input((4,)), dense1, bn1, tf.keras.layers.ReLU(), dense2, bn2])
    bn1.gamma.assign([2.0, 0.5, 1.0])
    bn1.beta.assign([0.3, -0.2, 0.1])
    x = np.random.default_rng(1).normal(2.0, 3.0, (300, 4)).astype(np.float32)
    batches = batchnorm.input_batches(x, batches=3, batch_size=64, seed=5)
    assert [len(b) for b in batches] == [64, 64, 64]
    # Independently: each BatchNorm sees its input normalised upstream by batch statistics
    # (training mode); Keras' dense BatchNorm keeps the biased variance.
    w1, b1 = dense1.get_weights()
    w2, b2 = dense2.get_weights()
    means, variances = [[], []], [[], []]
    for batch in batches:
        h = batch @ w1 + b1
        means[0].append(h.mean(0))
        variances[0].append(h.var(0))
        z = np.maximum((h - h.mean(0)) / np.sqrt(h.var(0) + bn1.epsilon) * bn1.gamma.numpy() + bn1.beta.numpy(), 0)
        g = z @ w2 + b2
        means[1].append(g.mean(0))
        variances[1].append(g.var(0))
    assert batchnorm.reestimate_statistics(model, x, batches=3, batch_size=64, seed=5) == 2
    for layer, mean, variance in zip((bn1, bn2), means, variances):
        np.testing.assert_allclose(layer.moving_mean.numpy(), np.mean(mean, 0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), np.mean(variance, 0), rtol=1e-4, atol=1e-5)
    assert bn1.momentum == 0.99 and bn2.momentum == 0.99  # restored


def test_repeated_reestimation_traces_once_per_call_whatever_the_batch_sizes(caplog):
    # A run that re-estimates every epoch calls it again and again, with a shorter last batch.
    inputs = {"a": tf.keras.Input((3,), name="a"), "b": tf.keras.Input((2,), name="b")}
    joined = tf.keras.layers.Concatenate()([inputs["a"], inputs["b"]])
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(tf.keras.layers.Dense(4)(joined)))
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(1.0, 2.0, (100, 3)).astype(np.float32), "b": rng.normal(size=(100, 2)).astype(np.float32)}
    batches = tf.data.Dataset.from_tensor_slices(x).batch(32)   # 32, 32, 32 and 4
    traced = []
    call = model.call
    model.call = lambda *args, **kwargs: traced.append(1) or call(*args, **kwargs)
    with caplog.at_level("WARNING", logger="tensorflow"):
        for _ in range(8):
            assert batchnorm.reestimate_statistics(model, batches, batches=4) == 1
    assert len(traced) == 8
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]
    # Still the average over the four batches, the short one included.
    dense, norm = model.layers[-2], model.layers[-1]
    h = [np.concatenate([b["a"], b["b"]], 1) @ dense.kernel.numpy() + dense.bias.numpy()
         for b in batches.as_numpy_iterator()]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean([v.mean(0) for v in h], 0), rtol=1e-4, atol=1e-5)


def test_reestimation_repairs_stale_statistics_of_a_pruned_network(digits):
    x, y, x_test, y_test = digits
    tf.keras.utils.set_random_seed(0)
    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    # Prune every layer to one convolution at once: the moving statistics still
    # describe the 2/2 network.
    for layer in model.layers:
        if isinstance(layer, MultiBaseConv2D):
            keep = np.argsort(layer.importance.numpy().reshape(-1), kind="stable")[-1]  # the most important
            layer.mask.assign(np.eye(1, layer.mask.shape.num_elements(), keep).reshape(layer.mask.shape))
    _, stale = model.evaluate(x_test, y_test, verbose=0)
    saved = _statistics(model)
    batch_statistics = np.mean(np.argmax(model(x_test, training=True), -1) == y_test)
    for layer, (mean, variance) in zip(batchnorm.batch_norm_layers(model), saved):
        layer.moving_mean.assign(mean)  # the training-mode call above moved them
        layer.moving_variance.assign(variance)
    assert stale < batch_statistics - 0.1, "the constructed statistics are not stale"
    batchnorm.reestimate_statistics(model, x, batches=2)
    _, repaired = model.evaluate(x_test, y_test, verbose=0)
    assert repaired >= batch_statistics - 0.02
    assert repaired > stale + 0.1


def test_input_batches_reads_every_kind_of_data(digits):
    x, y, _, _ = digits
    arrays = data.digits_arrays()
    assert [len(b) for b in batchnorm.input_batches(x, 3, batch_size=200)] == [200, 200, 112]
    assert len(batchnorm.input_batches((x, y), 2, batch_size=100)) == 2
    assert batchnorm.input_batches(arrays, 1, batch_size=10)[0].shape == (10, 8, 8, 1)
    pipeline = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    batches = batchnorm.input_batches(pipeline, 2)
    assert len(batches) == 2 and batches[0].shape == (32, 8, 8, 1)
    # Shuffled: a class-sorted array must not give one class per batch.
    order = np.argsort(y)
    first = batchnorm.input_batches(x[order], 1, batch_size=64)[0]
    assert not np.array_equal(first, x[order][:64])


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(batches=0), "batches"), (dict(batch_size=1), "batch_size"), (dict(data=[1, 2]), "data must be")],
)
def test_bad_arguments_are_rejected(kwargs, match):
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.BatchNormalization()])
    arguments = {"data": np.ones((8, 2), np.float32), **kwargs}
    with pytest.raises(ValueError, match=match):
        batchnorm.reestimate_statistics(model, **arguments)
    with pytest.raises(ValueError, match="when"):
        batchnorm.ReestimateStatistics(np.ones((8, 2)), when="batch")


def test_frozen_batch_norm_is_left_alone():
    frozen = tf.keras.layers.BatchNormalization()
    model = tf.keras.Sequential([tf.keras.Input((2,)), frozen])
    frozen.trainable = False
    assert batchnorm.reestimate_statistics(model, np.full((16, 2), 7.0, np.float32)) == 0
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), [0.0, 0.0])


def test_callback_reestimates_at_the_end_and_serializes(digits):
    x, y, _, _ = digits
    tf.keras.utils.set_random_seed(0)
    model = zoo.digits_resnet(width=8, conv="mbn")
    model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fix = batchnorm.ReestimateStatistics(x, batches=2, batch_size=128, when="epoch")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[fix])
    after = _statistics(model)
    batchnorm.reestimate_statistics(model, x, batches=2, batch_size=128)
    for (mean, variance), (mean2, variance2) in zip(after, _statistics(model)):
        np.testing.assert_allclose(mean, mean2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(variance, variance2, rtol=1e-5, atol=1e-6)
    config = fix.get_config()
    assert config == {"batches": 2, "batch_size": 128, "seed": 0, "when": "epoch"}
    assert batchnorm.ReestimateStatistics.from_config(config, data=x).get_config() == config
    with pytest.raises(ValueError, match="needs data"):
        batchnorm.ReestimateStatistics.from_config(config)


def test_the_trained_model_keeps_the_statistics_its_last_validation_used(digits):
    x, y, _, _ = digits
    tf.keras.utils.set_random_seed(0)
    model = zoo.digits_resnet(width=8, conv="mbn")
    model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _statistics(model)
    probe = VariancesAtEpochEnd()
    fix = batchnorm.ReestimateStatistics(reshuffling_pipeline(x), batches=2, when="epoch")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[fix, probe])
    after = [variance for _, variance in _statistics(model)]
    assert not np.allclose(after[0], before[0][1])  # re-estimated
    for variance, final in zip(probe.variances, after):
        np.testing.assert_array_equal(variance, final)
