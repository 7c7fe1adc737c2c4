"""Sub-bit convolutions (SNN) and IR-Net's quantizers: layer, training, export, cost."""
import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import digits
from _fit_helpers import Interrupt, StopAfter

from tfbin import callbacks, choices, codebooks, convert, cost, optimizers, pruning, training, zoo
from tfbin.layers import SubBitConv2D
from tfbin.quantizers import ErrorDecaySign, LibraSign
from tfbin.testing import realistic_weights


def sub_bit_layers(model):
    return [layer for layer in model.layers if isinstance(layer, SubBitConv2D)]


def snn_net(tau=5, width=8, seed=0, codebook_init=None):
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=width, conv="snn", tau=tau)
    if codebook_init is not None:
        for layer in sub_bit_layers(model):
            layer.codebook_init = codebook_init
            layer.codebook_latent.assign(layer.codebook * codebook_init)
    return model


def trained_like(model):
    return realistic_weights(model, digits().x_train[:256], seed=0)


# -- reference computations (numpy, from the papers' definitions) ------------------


def libra_reference(kernel):
    """IR-Net's Libra-PB: per output channel, standardised weights and 2^round(log2 mean|z|)."""
    flat = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    z = (flat - flat.mean(axis=0)) / flat.std(axis=0, ddof=1)
    scale = 2.0 ** np.round(np.log2(np.abs(z).mean(axis=0)))
    return z.reshape(kernel.shape), scale


def snn_reference(layer, x):
    """The layer's output from its raw weights: nearest member by inner product, conv of sign(x)."""
    z, scale = libra_reference(layer.kernel.numpy())
    units = codebooks.kernel_to_units(z)
    book = layer.codebook.numpy()
    members = book[np.argmax(units @ book.T, axis=1)]
    kernel = codebooks.units_to_kernel(members, z.shape) * scale
    signs = np.where(x >= 0, 1.0, -1.0)
    pad = (layer.kernel_size[0] - 1) // 2
    if layer.padding == "same":
        signs = np.pad(signs, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=layer.pad_values)
    return tf.nn.conv2d(signs.astype(np.float32), kernel.astype(np.float32), layer.strides, "VALID").numpy()


# -- codebooks ---------------------------------------------------------------------


def test_units_follow_the_documented_layout_in_numpy_and_in_the_layer():
    rng = np.random.default_rng(0)
    for shape in ((3, 3, 4, 5), (1, 1, 16, 3)):
        kernel = rng.standard_normal(shape).astype(np.float32)
        units = codebooks.kernel_to_units(kernel)
        if shape[0] == 3:
            np.testing.assert_array_equal(units[2 * 5 + 3], kernel[:, :, 2, 3].reshape(9))
        else:
            np.testing.assert_array_equal(units[1 * 3 + 2], kernel[0, 0, 8:16, 2])
        np.testing.assert_array_equal(codebooks.units_to_kernel(units, shape), kernel)
        layer = SubBitConv2D(shape[3], shape[0], tau=3)
        layer.build((None, 6, 6, shape[2]))
        np.testing.assert_array_equal(layer._to_units(tf.constant(kernel)).numpy(), units)
        np.testing.assert_array_equal(layer._from_units(tf.constant(units)).numpy(), kernel)


def test_patterns_and_bit_packing_round_trip():
    patterns = np.array([0, 1, 256, 511, 300])
    units = codebooks.patterns_to_units(patterns, 9)
    assert units[1].tolist() == [1] + [-1] * 8
    np.testing.assert_array_equal(codebooks.units_to_patterns(units), patterns)
    values = np.random.default_rng(0).integers(0, 32, 101)
    packed = codebooks.pack_bits(values, 5)
    assert len(packed) == (101 * 5 + 7) // 8
    np.testing.assert_array_equal(codebooks.unpack_bits(packed, 5, 101), values)
    with pytest.raises(ValueError, match=r"values must be in 0..31"):
        codebooks.pack_bits([32], 5)
    with pytest.raises(ValueError, match="take 2 bytes"):
        codebooks.unpack_bits(packed[:2] + packed[:1], 5, 3)


def test_refresh_takes_latent_signs_and_replaces_duplicates_with_unused_kernels():
    book = codebooks.patterns_to_units(np.array([3, 5, 6, 9]), 4)
    latent = book.copy()
    latent[1] = book[0] * 0.5                     # member 1 (5) turned into member 0 (3): a duplicate
    latent[2, 0] = -0.0005 * np.sign(book[2, 0])  # too close to zero to flip
    latent[2, 1] = -0.7 * book[2, 1]              # member 2 (6 = 0b0110) loses bit 1: 4
    latent[3, 3] = 7.0                            # clipped to 3
    new, new_latent, changed = codebooks.refresh(book, latent, np.random.default_rng(0))
    patterns = codebooks.units_to_patterns(new)
    assert patterns[0] == 3 and patterns[2] == 4 and patterns[3] == 9
    assert patterns[1] not in (3, 4, 9) and len(set(patterns.tolist())) == 4
    np.testing.assert_array_equal(new_latent[1], new[1])  # a refilled copy starts at +-1
    assert new_latent[3, 3] == 3.0 and new_latent[2, 1] == latent[2, 1]
    assert changed == 1 + (patterns[1] != 5)
    again, _, _ = codebooks.refresh(book, latent, np.random.default_rng(0))
    np.testing.assert_array_equal(again, new)


def test_recluster_moves_members_to_the_signs_of_their_kernels_and_fills_unused_ones_with_frequent_kernels():
    book = codebooks.patterns_to_units(np.array([0, 1, 2, 3]), 4)
    target = codebooks.patterns_to_units(np.array([12]), 4)[0]
    units = np.stack([target * 0.9, target * 0.4 + np.array([0, 0, 0, -0.5], np.float32),  # mapped to member 0
                      book[1] * 0.3,                                                       # member 1 stays
                      book[0] * 0.2,                                                       # mapped to member 2
                      *[codebooks.patterns_to_units(np.array([7]), 4)[0]] * 3,             # the most frequent kernel
                      codebooks.patterns_to_units(np.array([9]), 4)[0]]).astype(np.float32)
    indices = np.array([0, 0, 1, 2, 1, 1, 1, 1])
    # Member 0: sum of its two kernels has signs 12; member 2 (one kernel, pattern 0) and member 3 (unused) are
    # free after member 0 left pattern 0: they take the most frequent missing kernels, 7 then 0 (ties: lower number).
    new, changed = codebooks.recluster(book, units, indices)
    patterns = codebooks.units_to_patterns(new)
    assert patterns[0] == 12
    assert sorted(patterns.tolist()) == sorted(set(patterns.tolist()))  # distinct
    assert changed == int(np.sum(patterns != np.array([0, 1, 2, 3])))
    again, _ = codebooks.recluster(book, units, indices)
    np.testing.assert_array_equal(again, new)
    # The Lloyd step never lowers the total inner product of the kernels with their best member.
    rng = np.random.default_rng(0)
    book = codebooks.patterns_to_units(codebooks.random_codebook(4, 9, rng), 9)
    units = rng.standard_normal((300, 9)).astype(np.float32)
    before = (units @ book.T).max(axis=1).sum()
    new, changed = codebooks.recluster(book, units, np.argmax(units @ book.T, axis=1))
    assert changed > 0 and (units @ new.T).max(axis=1).sum() > before
    assert len(set(codebooks.units_to_patterns(new).tolist())) == 16


# -- IR-Net quantizers ----------------------------------------------------------------


def test_error_decay_sign_has_irnet_gradient():
    q = ErrorDecaySign(t=0.5)
    x = tf.constant(np.linspace(-3, 3, 13), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x)
    np.testing.assert_array_equal(y.numpy(), np.where(x.numpy() >= 0, 1.0, -1.0))
    # k * t * (1 - tanh(t x)^2) with k = max(1/t, 1)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 1.0 - np.tanh(0.5 * x.numpy()) ** 2, rtol=1e-6)
    q.error_decay_t.assign(4.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 4.0 * (1 - np.tanh(4.0 * x.numpy()) ** 2),
                               rtol=1e-5, atol=1e-5)  # 1 - tanh^2 cancels in float32


def test_libra_sign_balances_standardises_and_scales_by_a_power_of_two():
    kernel = np.random.default_rng(1).normal(0.3, 0.05, (3, 3, 4, 6)).astype(np.float32)
    kernel[..., 0] *= 40.0  # a channel where mean |z| rounds differently does not matter: per channel
    z, scale = libra_reference(kernel)
    y = LibraSign()(tf.constant(kernel)).numpy()
    np.testing.assert_array_equal(y, (np.where(z >= 0, 1.0, -1.0) * scale).astype(np.float32))
    assert set(np.log2(scale)) <= {-1.0, 0.0, 1.0}


def test_irnet_latent_weights_go_to_adam_not_bop():
    irnet = zoo.digits_resnet(width=8, conv="irnet")
    kernels = [v for v in irnet.trainable_variables if "kernel" in v.name and "conv" in v.name]
    assert kernels and not any(optimizers.is_bop_variable(v) for v in kernels)
    assert isinstance(training.default_optimizer(irnet), tf.keras.optimizers.legacy.Adam)
    bnn = zoo.digits_resnet(width=8, conv="bnn")
    assert any(optimizers.is_bop_variable(v) for v in bnn.trainable_variables)


# -- the layer -----------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size, tau, in_channels", [(3, 4, 5), (3, 9, 3), (1, 3, 16)])
def test_output_is_the_convolution_with_the_nearest_codebook_members(kernel_size, tau, in_channels):
    layer = SubBitConv2D(6, kernel_size, tau=tau, padding="same", pad_values=1.0, strides=2, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 7, 7, in_channels)).astype(np.float32)
    y = layer(x).numpy()
    np.testing.assert_allclose(y, snn_reference(layer, x), rtol=1e-6, atol=1e-5)
    assert layer.codebook.shape == (2**tau, 9 if kernel_size == 3 else 8)
    assert len(set(layer.codebook_patterns().tolist())) == 2**tau
    members = codebooks.kernel_to_units(np.sign(layer.binary_kernel()))
    assert set(codebooks.units_to_patterns(members).tolist()) <= set(layer.codebook_patterns().tolist())


def test_tau_nine_is_an_irnet_bnn():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 4)).astype(np.float32)
    snn = SubBitConv2D(8, 3, tau=9, padding="same", pad_values=1.0, use_bias=False)
    irnet = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False,
                                  input_quantizer=ErrorDecaySign(), kernel_quantizer=LibraSign())
    snn(x), irnet(x)
    irnet.kernel.latent_variable.assign(snn.kernel)
    np.testing.assert_array_equal(snn(x).numpy(), irnet(x).numpy())


def test_gradients_reach_the_latent_kernel_and_the_codebook_copy_of_used_members():
    layer = SubBitConv2D(4, 3, tau=6, padding="same", seed=0)
    x = tf.random.stateless_normal((2, 5, 5, 3), (1, 2))
    y = layer(x)
    with tf.GradientTape() as tape:
        kernel = layer.sub_bit_kernel()
        loss = tf.reduce_sum(kernel * tf.random.stateless_normal(kernel.shape, (3, 4)))
    d_kernel, d_book = (tf.convert_to_tensor(g) for g in tape.gradient(loss, [layer.kernel, layer.codebook_latent]))
    assert np.abs(d_kernel.numpy()).sum() > 0
    used = np.unique(layer.unit_indices())
    unused = np.setdiff1d(np.arange(64), used)
    assert np.all(np.abs(d_book.numpy()[used]).sum(axis=1) > 0)
    assert np.all(d_book.numpy()[unused] == 0)
    assert y.shape == (2, 5, 5, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=3, tau=0), r"tau must be an int in 1..9, got 0"),
    (dict(kernel_size=3, tau=10), r"tau must be an int in 1..9, got 10"),
    (dict(kernel_size=1, tau=9), r"tau \(1x1 kernels\) must be an int in 1..8, got 9"),
    (dict(kernel_size=5, tau=4), r"kernel_size must be 3 \(3x3\) or 1 \(1x1\) for SubBitConv2D, got 5"),
    (dict(kernel_size=(3, 1), tau=4), r"kernel_size must be 3 \(3x3\) or 1 \(1x1\)"),
    (dict(kernel_size=3, tau=4, kernel_quantizer="ste_sign"), "kernel_quantizer must be None"),
    (dict(kernel_size=3, tau=4, codebook_init=0), "codebook_init must be a positive number"),
])
def test_bad_layer_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SubBitConv2D(8, **kwargs)


def test_one_by_one_needs_input_channels_in_eights():
    with pytest.raises(ValueError, match="multiple of 8 input channels, got 12"):
        SubBitConv2D(8, 1, tau=4, name="pointwise")(tf.zeros((1, 4, 4, 12)))


@pytest.mark.parametrize("make, match", [
    (lambda: callbacks.RefineCodebooks(update_every=0), r"update_every must be an int >= 1, got 0"),
    (lambda: callbacks.RefineCodebooks(rule="kmeans"), r"rule must be one of .*centroid.*gradient.*kmeans"),
    (lambda: callbacks.ErrorDecay(t_min=0.0), "t_min must be a positive number"),
    (lambda: callbacks.ErrorDecay(t_min=1.0, t_max=0.5), r"t_max \(0.5\) must not be smaller"),
])
def test_bad_callback_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_callbacks_refuse_models_without_their_layers():
    x, y = digits().x_train[:64], digits().y_train[:64]
    model = zoo.digits_resnet(width=4, conv="bnn")
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for callback, match in ((callbacks.RefineCodebooks(), "no SubBitConv2D"), (callbacks.ErrorDecay(), "no ErrorDecaySign")):
        with pytest.raises(ValueError, match=match):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])


def test_layer_and_callbacks_serialize_and_a_saved_model_keeps_its_codebooks(tmp_path):
    layer = SubBitConv2D(8, 1, tau=3, t=0.2, codebook_init=0.5, seed=4, strides=2, name="pw")
    clone = SubBitConv2D.from_config(layer.get_config())
    assert (clone.tau, clone.unit, clone.initial_t, clone.codebook_init, clone.seed) == (3, 8, 0.2, 0.5, 4)
    for callback in (callbacks.RefineCodebooks(update_every=7, rule="gradient", seed=3),
                     callbacks.ErrorDecay(0.01, 5.0, epochs=9)):
        copy = tf.keras.utils.deserialize_keras_object(tf.keras.utils.serialize_keras_object(callback))
        assert copy.get_config() == callback.get_config()
    model = trained_like(snn_net(tau=4, width=4))
    for layer in sub_bit_layers(model):  # a refined state, not the initial sample
        layer.codebook.assign(layer.codebook[::-1])
    path = str(tmp_path / "snn.keras")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    for a, b in zip(sub_bit_layers(model), sub_bit_layers(loaded)):
        np.testing.assert_array_equal(a.codebook.numpy(), b.codebook.numpy())
    x = digits().x_test[:64]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- training --------------------------------------------------------------------------


EPOCHS, BATCH, REFINE_EVERY = 3, 64, 3


def _fit(backup_dir, interrupt_at=None):
    """Trains a small sub-bit net with both callbacks, refining by the SNN paper's gradient rule; returns
    (final weights, history, refinement steps)."""
    x, y = digits().x_train[:256], digits().y_train[:256]
    refined_at = []

    def fresh():
        # A tiny codebook_init lets members flip within a few steps.
        model = snn_net(tau=3, width=4, seed=5, codebook_init=0.002)
        model.compile(tf.keras.optimizers.legacy.Adam(1e-3),
                      tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        refine = callbacks.RefineCodebooks(update_every=REFINE_EVERY, rule="gradient")
        original = refine.refine
        refine.refine = lambda step: refined_at.append(step) or original(step)
        return model, [callbacks.ErrorDecay(), refine, tf.keras.callbacks.BackupAndRestore(str(backup_dir))]

    model, cbs = fresh()
    if interrupt_at is not None:
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0,
                      callbacks=cbs + [StopAfter(interrupt_at)])
        model, cbs = fresh()  # a fresh process would start like this
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0, callbacks=cbs)
    return model, history.history, refined_at


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    tf.config.experimental.enable_op_determinism()
    return _fit(tmp_path_factory.mktemp("straight"))


def test_fit_advances_t_per_epoch_and_refines_codebooks_every_n_steps(straight_run):
    model, history, refined_at = straight_run
    np.testing.assert_allclose(history["ede_t"], [0.1, 10 ** (-1 + 2 / 3), 10 ** (-1 + 4 / 3)], rtol=1e-6)
    for layer in sub_bit_layers(model):
        assert layer.error_decay_t.numpy() == pytest.approx(10 ** (-1 + 4 / 3))
        assert layer.input_quantizer.error_decay_t.numpy() == pytest.approx(10 ** (-1 + 4 / 3))
        assert len(set(layer.codebook_patterns().tolist())) == 8
    steps = EPOCHS * 256 // BATCH
    assert refined_at == list(range(REFINE_EVERY, steps + 1, REFINE_EVERY))
    assert sum(history["snn_codebook_changes"]) > 0
    initial = [snn_net(tau=3, width=4, seed=5).get_layer(layer.name).codebook_patterns()
               for layer in sub_bit_layers(model)]
    assert any((a != layer.codebook_patterns()).any() for a, layer in zip(initial, sub_bit_layers(model)))


def _kernel_bits_off(model):
    """The share of binary weights whose codebook member differs from the sign of their latent kernel."""
    return float(np.mean([layer.bits_off_codebook() for layer in sub_bit_layers(model)]))


def test_centroid_refinement_brings_the_codebook_to_the_kernels_and_uses_every_member():
    x, y = digits().x_train[:256], digits().y_train[:256]
    fitted = {}
    for refine in (None, callbacks.RefineCodebooks(update_every=2)):
        model = snn_net(tau=5, width=8, seed=3)
        model.compile(tf.keras.optimizers.legacy.Adam(1e-2),
                      tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0,
                            callbacks=[callbacks.ErrorDecay()] + ([refine] if refine else []))
        fitted[refine is not None] = model, history.history
    (vanilla, _), (refined, history) = fitted[False], fitted[True]
    assert refine.rule == "centroid" and sum(history["snn_codebook_changes"]) > 0
    assert _kernel_bits_off(refined) < 0.8 * _kernel_bits_off(vanilla)
    for layer in sub_bit_layers(refined):
        assert len(set(layer.codebook_patterns().tolist())) == 32
        assert len(set(layer.unit_indices().tolist())) == 32  # every member used
        np.testing.assert_array_equal(layer.codebook_latent.numpy(), layer.codebook.numpy() * layer.codebook_init)


def test_refinement_keeps_its_schedule_when_callbacks_see_several_steps_at_once():
    model = snn_net(tau=3, width=4, seed=1)
    model.compile(tf.keras.optimizers.legacy.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), steps_per_execution=3)
    refine, refined_at = callbacks.RefineCodebooks(update_every=2), []
    original = refine.refine
    refine.refine = lambda step: refined_at.append(step) or original(step)
    model.fit(digits().x_train[:512], digits().y_train[:512], epochs=1, batch_size=64, verbose=0, callbacks=[refine])
    assert refined_at == [2, 4, 6, 8]  # callbacks ran after steps 3, 6 and 8


def test_refinement_counts_steps_under_bop_and_adam():
    # larq's CaseOptimizer does not advance its own `iterations`, only the optimizers it holds.
    tf.keras.utils.set_random_seed(2)
    inputs = tf.keras.Input((8, 8, 1))
    hidden = SubBitConv2D(8, 3, tau=5, padding="same")(inputs)
    hidden = lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                   kernel_constraint="weight_clip", use_bias=False)(hidden)
    outputs = tf.keras.layers.Dense(10)(tf.keras.layers.GlobalAveragePooling2D()(hidden))
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, lq.optimizers.CaseOptimizer)
    refine, refined_at = callbacks.RefineCodebooks(update_every=2), []
    original = refine.refine
    refine.refine = lambda step: refined_at.append(step) or original(step)
    model.fit(digits().x_train[:256], digits().y_train[:256], epochs=1, batch_size=64, verbose=0, callbacks=[refine])
    assert refined_at == [2, 4]


def test_resumed_training_refines_like_an_uninterrupted_run(straight_run, tmp_path):
    straight = straight_run[0]
    resumed = _fit(tmp_path, interrupt_at=1)[0]
    for a, b in zip(sub_bit_layers(straight), sub_bit_layers(resumed)):
        for name in ("codebook", "codebook_latent", "kernel", "error_decay_t"):
            np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy())


# -- export: LCE and the compact format ------------------------------------------------


@pytest.mark.parametrize("conv", ["snn", "irnet"])
def test_strip_gives_plain_larq_layers_with_the_same_outputs_and_lce_converts_with_parity(conv):
    model = trained_like(zoo.digits_resnet(width=8, conv=conv, tau=5))
    plain = pruning.strip_pruning(model)
    binary = [layer for layer in plain.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert len(binary) == 4
    for layer in binary:
        assert layer.kernel_quantizer is None and type(layer.input_quantizer) is lq.quantizers.SteSign
        assert not layer.weights[1:]  # no t, codebook or latent copy left
        if conv == "snn":
            np.testing.assert_array_equal(layer.kernel.numpy(), model.get_layer(layer.name).binary_kernel())
    x = digits().x_test
    np.testing.assert_array_equal(plain.predict(x, verbose=0), model.predict(x, verbose=0))
    result = convert.convert(model, calibration_data=x)
    assert result.census["LceBconv2d"] == 4 and not result.float_fallbacks
    assert result.parity.argmax_agreement >= 0.99


def test_compact_export_stores_tau_bits_per_kernel_and_loads_back_bit_exactly(tmp_path):
    from tfbin import subbit

    model = trained_like(snn_net(tau=5, width=16))
    path = tmp_path / "model.tfbsub"
    size = subbit.save(model, str(path))
    data = path.read_bytes()
    assert size == len(data) and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    loaded = subbit.load(str(path))
    plain = pruning.strip_pruning(model)
    for a, b in zip(loaded.get_weights(), plain.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = digits().x_test
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # Per sub-bit layer: a 5-bit index per 3x3 kernel, 32 codebook kernels of 9 bits, a float32 scale per channel.
    expected = sum((5 * layer.units_shape[0] + 7) // 8 + 32 * 9 // 8 + 4 * layer.filters
                   for layer in sub_bit_layers(model))
    parts = subbit.describe(data)
    assert parts["subbit_bytes"] == expected and parts["binary_bytes"] == 0
    assert parts["total_bytes"] == len(data)


def test_compact_loader_refuses_damaged_files_clearly(tmp_path):
    import struct
    import zlib

    from tfbin import subbit

    data = subbit.to_bytes(snn_net(tau=3, width=4))
    with pytest.raises(subbit.SubBitFormatError, match="not a tfbin sub-bit file"):
        subbit.from_bytes(b"PK\x03\x04" + data[4:], name="m.bin")
    with pytest.raises(subbit.SubBitFormatError, match=r"m.bin: the file has .* bytes but its sizes say"):
        subbit.from_bytes(data[:-10], name="m.bin")
    flipped = bytearray(data)
    flipped[-20] ^= 0x01
    with pytest.raises(subbit.SubBitFormatError, match="checksum mismatch"):
        subbit.from_bytes(bytes(flipped))
    newer = bytearray(data)
    newer[8:10] = struct.pack("<H", 2)
    newer[-4:] = struct.pack("<I", zlib.crc32(bytes(newer[:-4])))
    with pytest.raises(subbit.SubBitFormatError, match="format version 2 is not supported"):
        subbit.from_bytes(bytes(newer))
    # A well-formed file whose header lies about a blob's size.
    _, _, _, header_size, payload_size = struct.unpack_from("<8sHHIQ", data)
    header = __import__("json").loads(zlib.decompress(data[24:24 + header_size]))
    entry = next(e for e in header["weights"] if e["encoding"] == "subbit")
    entry["indices"][1] -= 1
    packed = zlib.compress(__import__("json").dumps(header).encode())
    body = struct.pack("<8sHHIQ", b"TFBINSUB", 1, 0, len(packed), payload_size) + packed + data[24 + header_size:-4]
    with pytest.raises(subbit.SubBitFormatError, match=r"weight \d+ \(.*kernel.*\): 'indices' has"):
        subbit.from_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(subbit.SubBitFormatError, match="expected bytes"):
        subbit.from_bytes("not bytes")


# -- cost ----------------------------------------------------------------------------------


def test_cost_counts_tau_bits_per_kernel_and_the_sharing_estimate():
    inputs = tf.keras.Input((8, 8, 16))
    x = SubBitConv2D(64, 3, tau=4, padding="same", pad_values=1.0, use_bias=False, name="k3")(inputs)
    x = SubBitConv2D(32, 1, tau=3, strides=2, use_bias=False, name="k1")(x)
    model = tf.keras.Model(inputs, x)
    layers = {layer.name: layer for layer in cost.model_cost(model).layers}
    k3, k1 = layers["k3"], layers["k1"]
    assert (k3.kind, k3.tau, k3.unit_size) == ("snn", 4, 9)
    assert k3.bit_ops == 9 * 16 * 64 * 64 and k3.binary_bits == 4 * 16 * 64 and k3.codebook_bits == 16 * 9
    # each input channel once with each of the 16 members, plus Cin * Cout / 2 per pixel
    assert k3.shared_bit_ops == 64 * (16 * 9 * 16 + 16 * 64 // 2)
    assert k1.bit_ops == 64 * 32 * 16 and k1.binary_bits == 3 * (64 // 8) * 32 and k1.codebook_bits == 8 * 8
    assert k1.shared_bit_ops == 16 * (64 * 8 + 8 * 32 // 2)
    assert k3.params_mbit == pytest.approx((4 * 16 * 64 + 144 + 32 * 64) / 1e6)
    total = cost.model_cost(model)
    assert total.binary_mbit == pytest.approx((k3.binary_bits + k1.binary_bits) / 1e6)
    assert total.shared_bit_ops == k3.shared_bit_ops + k1.shared_bit_ops
    table = total.table()
    assert "0.44/1" in table and "0.38/1" in table and "bit-OPs with computation sharing" in table


def test_resnet18_follows_the_snn_papers_counting():
    # The SNN code's published ResNet-18 (ImageNet): 10.99 Mbit and 1.677 G bit-OPs as a BNN,
    # 6.103 Mbit / 0.501 G at tau 5 and 4.882 Mbit / 0.297 G at tau 4. Its binary layers are
    # the 16 3x3 convolutions (stem, classifier and 1x1 shortcuts full precision), as here.
    model = zoo.resnet18(conv="snn", tau=4)
    model_cost = cost.model_cost(model)
    sub_bit = [layer for layer in model_cost.layers if layer.kind == "snn"]
    assert len(sub_bit) == 16 and all(layer.unit_size == 9 for layer in sub_bit)
    binary_weights = sum(layer.binary_params for layer in sub_bit)
    assert binary_weights == 10_985_472
    assert model_cost.bit_ops == 1_676_279_808
    assert round(model_cost.binary_mbit, 3) == 4.882
    assert model_cost.shared_bit_ops == 297_242_624
    pixels = {layer.name: layer.bit_ops // layer.binary_params for layer in sub_bit}
    tau5 = sum(cost.sharing_bit_ops(model.get_layer(name).kernel.shape, pixels[name], 5) for name in pixels)
    assert round(tau5 / 1e9, 3) == 0.501
    assert round(binary_weights * 5 / 9 / 1e6, 3) == 6.103


def test_summary_command_shows_the_sub_bit_figures(tmp_path, capsys):
    from tfbin import cli

    model = snn_net(tau=5, width=8)
    path = str(tmp_path / "snn.keras")
    model.save(path)
    assert cli.main(["summary", path]) == 0
    out = capsys.readouterr().out
    assert out.strip() == cost.model_cost(model).table()
    assert "sub-bit layers (4, tau bits per unit: 5/9)" in out and "0.56/1" in out


# -- zoo, choices, demo -----------------------------------------------------------------------


def test_zoo_and_choices_offer_the_new_kinds_and_method():
    assert {"snn", "irnet"} <= set(tfbin.kinds.names())
    assert choices.METHODS[0] == "pabt" and "snn" in choices.METHODS
    model = zoo.resnet20(conv="snn", tau=6)
    assert [layer.tau for layer in sub_bit_layers(model)] == [6] * 18
    with pytest.raises(ValueError, match="tau must be an int in 1..9"):
        zoo.digits_resnet(conv="snn", tau=12)


def test_demo_reports_tau_and_the_compact_size(tmp_path):
    report = tfbin.demo.run_demo(method="snn", epochs=1, width=4, rows=("snn_tau5",), out=str(tmp_path), verbose=0)
    row = report["models"][0]
    assert row["tau"] == 5 and row["op_census"]["LceBconv2d"] == 4
    assert 0 < row["subbit_bytes"] < row["size_bytes"]
    assert row["argmax_agreement"] >= 0.99
    assert (tmp_path / "report.json").exists()
