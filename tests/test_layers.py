import contextlib
import io
import json

import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from tfbin import zoo
from tfbin.cost import flatten_layers
from tfbin.layers import MAX_BASES, SCALING_MODES, MultiBaseConv2D
from tfbin.optimizers import bop_optimizer
from tfbin.quantizers import ShiftedSign, WeightBaseSign

FILTERS = 4
IN_CHANNELS = 3


def random_input(shape=(2, 7, 7, IN_CHANNELS), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def randomize(layer, seed=0, mask=None):
    """Moves every trainable parameter off its default so the formula sees them all."""
    rng = np.random.default_rng(seed)
    m, n = layer.weight_bases, layer.activation_bases
    layer.thresholds.assign(rng.uniform(-0.7, 0.7, n).astype(np.float32))
    if layer.use_bias:
        layer.bias.assign(rng.normal(size=layer.filters).astype(np.float32))
    if layer.has_base_scaling:
        layer.alpha.assign(rng.uniform(0.2, 1.5, layer.alpha.shape).astype(np.float32))
        layer.beta.assign(rng.uniform(0.2, 1.5, n).astype(np.float32))
    if layer.has_operation_scaling:
        layer.gamma.assign(rng.normal(size=(m, n)).astype(np.float32))
    if mask is not None:
        layer.mask.assign(np.asarray(mask, np.float32))


def partial_mask(m, n):
    """A mask with one pruned convolution whenever there is more than one."""
    mask = np.ones((m, n), np.float32)
    if m * n > 1:
        mask[m - 1, 0] = 0.0
    return mask


def reference_output(layer, x):
    """The MBN formula with one plain convolution per (m, n), from the raw variables."""
    m_bases, n_bases, filters = layer.weight_bases, layer.activation_bases, layer.filters
    kernel = tf.keras.backend.get_value(layer.kernel.latent_variable)
    thresholds = layer.thresholds.numpy()
    mask = layer.mask.numpy()
    pad = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] // 2
    out = 0.0
    for m in range(m_bases):
        base = np.where(kernel[..., m * filters : (m + 1) * filters] >= 0, 1.0, -1.0)
        for n in range(n_bases):
            activation = np.where(x - thresholds[n] >= 0, 1.0, -1.0)
            if layer.padding == "same":
                activation = np.pad(
                    activation, [(0, 0), (pad, pad), (pad, pad), (0, 0)],
                    constant_values=layer.pad_values,
                )
            conv = tf.nn.conv2d(
                activation.astype(np.float32), base.astype(np.float32),
                strides=layer.strides, padding="VALID", dilations=layer.dilation_rate,
            ).numpy()
            coef = mask[m, n] * np.ones(filters)
            if layer.has_operation_scaling:
                coef = coef * layer.gamma.numpy()[m, n]
            if layer.has_base_scaling:
                coef = coef * layer.alpha.numpy()[m] * layer.beta.numpy()[n]
            out = out + conv * coef
    if layer.use_bias:
        out = out + layer.bias.numpy()
    return out


def reference_bias(layer):
    return layer.bias.numpy() if layer.use_bias else 0.0


# parity with larq at one base each


@pytest.mark.parametrize(
    "conv_kwargs",
    [
        dict(padding="valid"),
        dict(padding="same", pad_values=0.0),
        dict(padding="same", pad_values=1.0),
        dict(padding="same", pad_values=1.0, strides=2),
        dict(padding="same", pad_values=1.0, strides=(2, 1)),
        dict(padding="valid", strides=(2, 1)),
        dict(padding="same", pad_values=1.0, dilation_rate=2),
        dict(padding="valid", dilation_rate=2, use_bias=False),
    ],
    ids=lambda kwargs: "-".join(f"{k}={v}" for k, v in kwargs.items()),
)
def test_single_base_matches_larq_quant_conv2d(conv_kwargs):
    x = tf.constant(random_input())
    larq_conv = lq.layers.QuantConv2D(
        FILTERS, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", **conv_kwargs,
    )
    mbn = MultiBaseConv2D(FILTERS, 3, scaling="none", **conv_kwargs)
    larq_conv.build(x.shape)
    mbn.build(x.shape)
    mbn.kernel.latent_variable.assign(larq_conv.kernel.latent_variable)
    if larq_conv.use_bias:
        bias = np.random.default_rng(1).normal(size=FILTERS).astype(np.float32)
        larq_conv.bias.assign(bias)
        mbn.bias.assign(bias)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        expected, actual = larq_conv(x), mbn(x)
        upstream = tf.constant(random_input(expected.shape, seed=2))
        loss_expected = tf.reduce_sum(expected * upstream)
        loss_actual = tf.reduce_sum(actual * upstream)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-5)
    # The straight-through estimator of the input quantizer is larq's too.
    np.testing.assert_allclose(
        tape.gradient(loss_actual, x).numpy(), tape.gradient(loss_expected, x).numpy(), atol=1e-5
    )


# the output formula


@pytest.mark.parametrize("alpha_per_channel", [True, False])
@pytest.mark.parametrize("scaling", SCALING_MODES)
@pytest.mark.parametrize("activation_bases", [1, 2, 3])
@pytest.mark.parametrize("weight_bases", [1, 2, 3])
def test_output_matches_per_convolution_reference(
    weight_bases, activation_bases, scaling, alpha_per_channel
):
    layer = MultiBaseConv2D(
        FILTERS, 3, weight_bases=weight_bases, activation_bases=activation_bases,
        scaling=scaling, alpha_per_channel=alpha_per_channel, padding="same", pad_values=1.0,
    )
    x = random_input()
    layer.build(x.shape)
    randomize(layer, mask=partial_mask(weight_bases, activation_bases))
    expected = reference_output(layer, x)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "conv_kwargs",
    [
        dict(padding="valid", strides=2),
        dict(padding="same", pad_values=0.0, dilation_rate=2),
        dict(padding="same", pad_values=1.0, strides=2, use_bias=False),
    ],
    ids=lambda kwargs: "-".join(f"{k}={v}" for k, v in kwargs.items()),
)
def test_output_formula_with_strides_dilation_and_padding(conv_kwargs):
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, activation_bases=3, **conv_kwargs)
    x = random_input((2, 9, 9, IN_CHANNELS))
    layer.build(x.shape)
    randomize(layer, seed=3, mask=[[1, 0, 1], [0, 1, 1]])
    np.testing.assert_allclose(layer(x).numpy(), reference_output(layer, x), rtol=1e-5, atol=1e-4)


def test_fully_masked_layer_outputs_only_the_bias():
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, activation_bases=2)
    x = random_input()
    layer.build(x.shape)
    randomize(layer, mask=np.zeros((2, 2)))
    np.testing.assert_allclose(layer(x).numpy(), np.broadcast_to(layer.bias.numpy(), (2, 5, 5, FILTERS)))


def test_coefficients_view_matches_scales_and_mask():
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=3, activation_bases=2)
    layer.build((None, 7, 7, IN_CHANNELS))
    randomize(layer, mask=partial_mask(3, 2))
    coef = layer.coefficients().numpy()
    assert coef.shape == (2, 3, FILTERS)  # (N, M, filters)
    expected = (
        layer.mask.numpy().T[:, :, None]
        * layer.gamma.numpy().T[:, :, None]
        * layer.alpha.numpy()[None]
        * layer.beta.numpy()[:, None, None]
    )
    np.testing.assert_allclose(coef, expected, rtol=1e-6)
    assert np.all(coef[0, 2] == 0)  # the pruned (m=2, n=0) convolution


def test_live_pairs_and_weight_base_views():
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, activation_bases=3)
    layer.build((None, 7, 7, IN_CHANNELS))
    layer.mask.assign([[1, 0, 0], [0, 1, 1]])
    assert layer.live_pairs() == [(0, 0), (1, 1), (1, 2)]
    kernel = layer.kernel.latent_variable.numpy()
    for m in range(2):
        base = layer.weight_base(m)
        assert base.shape == (3, 3, IN_CHANNELS, FILTERS)
        np.testing.assert_array_equal(base, kernel[..., m * FILTERS : (m + 1) * FILTERS])


def test_kernel_stacks_weight_bases_on_the_output_axis():
    layer = MultiBaseConv2D(FILTERS, (3, 1), weight_bases=3, activation_bases=2)
    layer.build((None, 7, 7, IN_CHANNELS))
    assert tuple(layer.kernel.shape) == (3, 1, IN_CHANNELS, 3 * FILTERS)
    assert set(np.unique(layer.kernel.latent_variable.numpy())) == {-1.0, 1.0}
    assert not layer.mask.trainable and not layer.importance.trainable
    np.testing.assert_allclose(layer.thresholds.numpy(), [-1.0, 1.0])


# training


def test_thresholds_and_scales_get_gradients():
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, activation_bases=3, padding="same")
    x = random_input()
    layer.build(x.shape)
    randomize(layer, mask=[[1, 1, 1], [1, 0, 1]])
    # Inputs near every threshold so the clipped straight-through gradient is live.
    with tf.GradientTape() as tape:
        y = layer(x * 0.5)
        loss = tf.reduce_sum(y * random_input(y.shape, seed=5))
    variables = [layer.thresholds, layer.alpha, layer.beta, layer.gamma, layer.kernel]
    grads = dict(zip(["thresholds", "alpha", "beta", "gamma", "kernel"], tape.gradient(loss, variables)))
    assert layer.thresholds.trainable
    assert np.all(grads["thresholds"].numpy() != 0)
    for name in ("alpha", "beta", "kernel"):
        assert np.any(grads[name].numpy() != 0), name
    gamma_grad = grads["gamma"].numpy()
    assert gamma_grad[1, 1] == 0  # pruned: no signal to its scale
    assert np.all(np.delete(gamma_grad.ravel(), 4) != 0)


def naive_output(layer, x):
    """The layer's formula as M x N separate convolutions of TensorFlow ops, for autodiff."""
    filters = layer.filters
    kernel = layer.kernel.latent_variable
    pad = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] // 2
    out = 0.0
    for m in range(layer.weight_bases):
        base = WeightBaseSign()(kernel[..., m * filters : (m + 1) * filters])
        for n in range(layer.activation_bases):
            activation = ShiftedSign()(x - layer.thresholds[n])
            if layer.padding == "same":
                activation = tf.pad(
                    activation, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=layer.pad_values
                )
            coef = layer.mask[m, n]
            if layer.has_operation_scaling:
                coef = coef * layer.gamma[m, n]
            if layer.has_base_scaling:
                coef = coef * layer.alpha[m] * layer.beta[n]
            out += coef * tf.nn.conv2d(activation, base, strides=layer.strides, padding="VALID")
    return out + layer.bias if layer.use_bias else out


@pytest.mark.parametrize("scaling", ["both", "none"])
@pytest.mark.parametrize("bases", [(1, 1), (2, 3), (3, 2)], ids=str)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_gradients_match_separate_convolutions(bases, scaling, padding):
    layer = MultiBaseConv2D(
        FILTERS, 3, weight_bases=bases[0], activation_bases=bases[1], scaling=scaling,
        padding=padding, pad_values=1.0,
    )
    x = tf.constant(random_input() * 0.7)
    layer.build(x.shape)
    randomize(layer, seed=6, mask=partial_mask(*bases))
    variables = [layer.kernel.latent_variable, *[w for w in layer.trainable_weights if w.name != layer.kernel.name]]
    upstream = random_input(layer(x).shape, seed=7)
    gradients = []
    for forward in (layer, lambda inputs: naive_output(layer, inputs)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(forward(x) * upstream)
        gradients.append(tape.gradient(loss, [x, *variables]))
    for name, actual, expected in zip(["input"] + [v.name for v in variables], *gradients):
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def small_mbn_model(weight_bases=2, activation_bases=2, scaling="both", **kwargs):
    inputs = tf.keras.Input((6, 6, IN_CHANNELS))
    x = MultiBaseConv2D(
        FILTERS, 3, weight_bases=weight_bases, activation_bases=activation_bases,
        scaling=scaling, padding="same", pad_values=1.0, name="mbn", **kwargs,
    )(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(3, name="logits")(x)
    return tf.keras.Model(inputs, outputs)


def classification_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, IN_CHANNELS)).astype(np.float32), rng.integers(0, 3, n)


def compile_with_bop(model, gamma=0.5):
    # A large adaptivity rate and a tiny threshold make Bop flip within a few steps.
    model.compile(
        bop_optimizer(learning_rate=1e-2, gamma=gamma, threshold=1e-9),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def test_bop_flips_weight_bases_and_adam_trains_the_rest():
    tf.keras.utils.set_random_seed(0)
    model = small_mbn_model()
    layer = model.get_layer("mbn")
    assert lq.optimizers.Bop.is_binary_variable(layer.kernel)
    for variable in (layer.thresholds, layer.alpha, layer.beta, layer.gamma, layer.bias):
        assert not lq.optimizers.Bop.is_binary_variable(variable)
    compile_with_bop(model)
    before = {w.name: w.numpy().copy() for w in layer.weights}
    kernel_before = layer.kernel.latent_variable.numpy().copy()
    x, y = classification_data()
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)

    kernel = layer.kernel.latent_variable.numpy()
    assert set(np.unique(kernel)) == {-1.0, 1.0}
    assert np.any(kernel != kernel_before)
    for variable in (layer.thresholds, layer.alpha, layer.beta, layer.gamma):
        assert np.any(variable.numpy() != before[variable.name]), variable.name
    np.testing.assert_array_equal(layer.mask.numpy(), before[layer.mask.name])


def test_importance_accumulates_in_training_only_and_skips_pruned_convolutions():
    tf.keras.utils.set_random_seed(1)
    model = small_mbn_model(weight_bases=2, activation_bases=3)
    layer = model.get_layer("mbn")
    mask = np.array([[1, 0, 1], [1, 1, 0]], np.float32)
    layer.mask.assign(mask)
    compile_with_bop(model)
    x, y = classification_data()

    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(layer.importance.numpy(), np.zeros((2, 3)))

    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after_one = layer.importance.numpy()
    assert np.all(after_one[mask == 1] > 0)
    assert np.all(after_one[mask == 0] == 0)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after_two = layer.importance.numpy()
    assert np.all(after_two[mask == 1] > after_one[mask == 1])
    assert np.all(after_two[mask == 0] == 0)


@pytest.mark.parametrize("scaling", SCALING_MODES)
def test_importance_is_the_taylor_score_of_each_convolution(scaling):
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, activation_bases=3, scaling=scaling)
    x = random_input()
    layer.build(x.shape)
    randomize(layer, mask=[[1, 1, 0], [0, 1, 1]])
    upstream = random_input((2, 5, 5, FILTERS), seed=9)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * upstream)
    tape.gradient(loss, layer.trainable_weights)
    # |sum dL/dz * z| over each convolution's own output z, from the reference convs.
    expected = np.zeros((2, 3))
    full_mask = layer.mask.numpy()
    for m, n in layer.live_pairs():
        only = np.zeros((2, 3), np.float32)
        only[m, n] = 1
        layer.mask.assign(only)
        expected[m, n] = abs(np.sum(upstream * (reference_output(layer, x) - reference_bias(layer))))
    layer.mask.assign(full_mask)
    np.testing.assert_allclose(layer.importance.numpy(), expected, rtol=1e-4, atol=1e-4)


# ABC-Net initialisation


@pytest.mark.parametrize("alpha_per_channel", [True, False])
def test_set_from_real_kernel_reconstructs_better_with_more_bases(alpha_per_channel):
    kernel = np.random.default_rng(0).normal(size=(3, 3, IN_CHANNELS, FILTERS)).astype(np.float32)
    errors = []
    for m in range(1, 5):
        layer = MultiBaseConv2D(FILTERS, 3, weight_bases=m, alpha_per_channel=alpha_per_channel)
        layer.build((None, 7, 7, IN_CHANNELS))
        layer.set_from_real_kernel(kernel)
        assert set(np.unique(layer.kernel.latent_variable.numpy())) == {-1.0, 1.0}
        alpha = layer.alpha.numpy()
        assert alpha.shape == (m, FILTERS if alpha_per_channel else 1)
        approximation = sum(layer.weight_base(i) * alpha[i] for i in range(m))
        errors.append(np.linalg.norm(approximation - kernel) / np.linalg.norm(kernel))
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[0] < 1.0


def test_set_from_real_kernel_single_base_is_the_sign_with_mean_magnitude():
    kernel = np.random.default_rng(1).normal(size=(3, 3, IN_CHANNELS, FILTERS))
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=1)
    layer.build((None, 7, 7, IN_CHANNELS))
    layer.set_from_real_kernel(kernel)
    centred = kernel - kernel.reshape(-1, FILTERS).mean(axis=0)
    base = np.where(centred >= 0, 1.0, -1.0)
    np.testing.assert_array_equal(layer.weight_base(0), base)
    # Least squares against a single +-1 base: alpha_f = mean over the channel of W * B.
    expected = (kernel * base).reshape(-1, FILTERS).mean(axis=0)
    np.testing.assert_allclose(layer.alpha.numpy()[0], expected, rtol=1e-5)


def test_set_from_real_kernel_without_base_scaling_sets_bases_only():
    kernel = np.random.default_rng(2).normal(size=(3, 3, IN_CHANNELS, FILTERS))
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=2, scaling="operation")
    layer.build((None, 7, 7, IN_CHANNELS))
    layer.set_from_real_kernel(kernel)
    assert not hasattr(layer, "alpha")
    assert set(np.unique(layer.kernel.latent_variable.numpy())) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="kernel must have shape"):
        layer.set_from_real_kernel(kernel[..., :2])


# arguments and configuration


@pytest.mark.parametrize("argument", ["weight_bases", "activation_bases"])
@pytest.mark.parametrize("value", [0, MAX_BASES + 1, -1, 1.5, 2.0, "2", True, None])
def test_bad_base_counts_raise_value_error_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=rf"{argument} must be an int in 1\.\.{MAX_BASES}"):
        MultiBaseConv2D(FILTERS, 3, **{argument: value})


def test_numpy_integer_base_counts_are_accepted():
    layer = MultiBaseConv2D(FILTERS, 3, weight_bases=np.int64(2), activation_bases=np.int32(MAX_BASES))
    assert (layer.weight_bases, layer.activation_bases) == (2, MAX_BASES)
    assert type(layer.get_config()["weight_bases"]) is int


@pytest.mark.parametrize("scaling", ["gamma", "", None, "Both"])
def test_unknown_scaling_raises_value_error_listing_the_modes(scaling):
    with pytest.raises(ValueError, match="scaling must be one of none, base, operation, both"):
        MultiBaseConv2D(FILTERS, 3, scaling=scaling)


def test_unsupported_conv_options_raise_value_error():
    with pytest.raises(ValueError, match="threshold_spread"):
        MultiBaseConv2D(FILTERS, 3, threshold_spread=-1.0)
    with pytest.raises(ValueError, match="groups"):
        MultiBaseConv2D(FILTERS, 3, groups=2)
    with pytest.raises(ValueError, match="data_format"):
        MultiBaseConv2D(FILTERS, 3, data_format="channels_first")


def test_config_round_trip():
    layer = MultiBaseConv2D(
        FILTERS, (3, 1), weight_bases=3, activation_bases=2, scaling="base",
        alpha_per_channel=False, threshold_spread=0.5, strides=2, padding="same",
        pad_values=1.0, dilation_rate=1, use_bias=False, name="mbn",
    )
    config = layer.get_config()
    for key, value in dict(
        weight_bases=3, activation_bases=2, scaling="base", alpha_per_channel=False,
        threshold_spread=0.5, pad_values=1.0, use_bias=False, strides=(2, 2),
    ).items():
        assert config[key] == value, key
    clone = MultiBaseConv2D.from_config(config)
    assert clone.get_config() == config
    x = random_input((1, 8, 8, IN_CHANNELS))
    layer.build(x.shape)
    clone.build(x.shape)
    randomize(layer, mask=[[1, 0], [1, 1], [0, 1]])
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())
    np.testing.assert_allclose(clone.thresholds.numpy(), layer.thresholds.numpy())
    assert isinstance(clone.input_quantizer, tfbin.quantizers.ShiftedSign)
    assert isinstance(clone.kernel_quantizer, tfbin.quantizers.WeightBaseSign)


# saving


def comparable(config):
    # The quantizers' build configs differ between formats (tuples become
    # lists, SavedModel drops them) without changing what the layer computes.
    if isinstance(config, dict):
        return {k: comparable(v) for k, v in config.items() if k != "build_config"}
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("file_name", ["model.keras", "model.h5", "saved_model"])
def test_save_and_load_round_trip(tmp_path, file_name):
    tf.keras.utils.set_random_seed(2)
    model = small_mbn_model(weight_bases=2, activation_bases=3, alpha_per_channel=False)
    layer = model.get_layer("mbn")
    randomize(layer, seed=4, mask=[[1, 0, 1], [0, 1, 1]])
    layer.importance.assign(np.arange(6, dtype=np.float32).reshape(2, 3))
    compile_with_bop(model)
    x, y = classification_data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # moves BatchNorm statistics too

    path = str(tmp_path / file_name)
    model.save(path)
    loaded = tf.keras.models.load_model(path, compile=False)
    loaded_layer = loaded.get_layer("mbn")
    assert isinstance(loaded_layer, MultiBaseConv2D)
    assert comparable(loaded_layer.get_config()) == comparable(layer.get_config())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for name in ("kernel", "thresholds", "alpha", "beta", "gamma", "mask", "importance", "bias"):
        np.testing.assert_array_equal(
            tf.keras.backend.get_value(getattr(loaded_layer, name)),
            tf.keras.backend.get_value(getattr(layer, name)),
            err_msg=name,
        )
    np.testing.assert_array_equal(loaded_layer.mask.numpy(), [[1, 0, 1], [0, 1, 1]])
    assert lq.optimizers.Bop.is_binary_variable(loaded_layer.kernel)


# compatibility with larq's tools and the zoo


def test_larq_summary_counts_weight_bases_as_one_bit():
    model = small_mbn_model(weight_bases=3, activation_bases=2)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        lq.models.summary(model)
    assert "mbn" in printed.getvalue()
    profile = lq.models.ModelProfile(model)
    layer_profile = next(p for p in profile.layer_profiles if p.name == "mbn")
    kernel_size = 3 * 3 * IN_CHANNELS * 3 * FILTERS
    assert layer_profile.weight_count(bitwidth=1) == kernel_size
    assert layer_profile.input_precision == 1
    assert layer_profile.op_count("mac", precision=1) == kernel_size * 6 * 6


@pytest.mark.parametrize("conv", tfbin.kinds.names())
def test_zoo_models_have_no_lambda_layers(conv):
    mbn_kwargs = dict(weight_bases=2, activation_bases=2) if conv == "mbn" else {}
    models = [
        zoo.digits_resnet(width=4, conv=conv, **mbn_kwargs),
        zoo.resnet20(width=4, conv=conv, **mbn_kwargs),
        zoo.resnet18(input_shape=(32, 32, 3), num_classes=10, width=4, conv=conv, **mbn_kwargs),
    ]
    for model in models:
        assert not [layer.name for layer in flatten_layers(model) if isinstance(layer, tf.keras.layers.Lambda)]
        assert '"Lambda"' not in model.to_json()
        if conv == "mbn":
            assert any(isinstance(layer, MultiBaseConv2D) for layer in flatten_layers(model))
