"""STQ-Nets: masked binary convolutions, STQ-A and STQ-B, PFR, and physical removal at export."""
import json

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from _convert_helpers import digits, run_cli

from tfbin import callbacks, convert, cost, optimizers, pruning, shrink, stq, zoo
from tfbin.testing import realistic_weights

BINARY = dict(padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
              kernel_constraint="weight_clip", use_bias=False)


def masked_net(block="basic", width=8, seed=0, **kwargs):
    tf.keras.utils.set_random_seed(seed)
    return stq.with_masks(zoo.digits_resnet(width=width, block=block), **kwargs)


def trained_like(model, seed=0):
    return realistic_weights(model, digits().x_train[:256], seed=seed)


def binary_kernels(model):
    return {layer.name: layer.get_weights()[0] for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)}


# -- the layer and its masks ------------------------------------------------------------


def test_masked_filters_compute_zero_and_get_no_gradient():
    layer = stq.MaskedQuantConv2D(6, 3, name="masked", **BINARY)
    x = tf.random.stateless_normal((2, 5, 5, 4), seed=(1, 2))
    layer(x)
    assert layer.filter_mask in layer.non_trainable_weights and layer.filter_mask.shape == (4, 6)
    np.testing.assert_array_equal(layer.filter_mask.numpy(), 1.0)
    mask = (np.random.default_rng(0).random((4, 6)) > 0.5).astype(np.float32)
    layer.filter_mask.assign(mask)
    # The same convolution by hand: larq's sign inputs, kernel sign(w) * mask, +1 padding.
    reference = lq.layers.QuantConv2D(6, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                                      use_bias=False)
    reference(x)
    latent = layer.kernel.latent_variable.numpy()
    reference.set_weights([np.where(latent >= 0, 1.0, -1.0) * mask])
    np.testing.assert_allclose(layer(x).numpy(), reference(x).numpy(), atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    gradient = tape.gradient(loss, layer.kernel.latent_variable).numpy()
    assert np.all(gradient[:, :, mask == 0] == 0) and np.any(gradient[:, :, mask == 1] != 0)


def test_expander_mask_keeps_a_fixed_random_subset_of_inputs_per_filter():
    mask = stq.expander_mask(16, 8, 4, seed=3)
    assert np.all(mask.sum(axis=0) == 4)          # fan-in 16 / 4 per filter
    assert np.all(mask.sum(axis=1) == 2)          # every input channel feeds one group of 8 / 4 filters
    groups = {tuple(np.flatnonzero(mask[:, k])) for k in range(8)}
    assert len(groups) == 4 and sorted(c for g in groups for c in g) == list(range(16))
    np.testing.assert_array_equal(mask, stq.expander_mask(16, 8, 4, seed=3))
    assert not np.array_equal(mask, stq.expander_mask(16, 8, 4, seed=4))
    layer = stq.MaskedQuantConv2D(8, 3, expander_compression=4, expander_seed=3, **BINARY)
    layer.build((None, 6, 6, 16))
    np.testing.assert_array_equal(layer.filter_mask.numpy(), mask)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: stq.MaskedQuantConv2D(6, 3, expander_compression=4, **BINARY), "divide filters"),
        (lambda: stq.MaskedQuantConv2D(8, 3, expander_compression=4, **BINARY).build((None, 6, 6, 6)),
         "divide the input channels"),
        (lambda: stq.MaskedQuantConv2D(8, 3, expander_compression=0, **BINARY), "expander_compression"),
        (lambda: stq.MaskedQuantConv2D(8, 3, name="float_conv"), "float_conv: STQ masks go on binary"),
        (lambda: stq.expander_mask(10, 8, 4), "expander_compression"),
    ],
)
def test_bad_masked_layers_are_refused_by_argument_or_name(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_masks_and_expander_settings_survive_saving(tmp_path):
    model = trained_like(masked_net(expander_compression=2, seed=5))
    model.save(tmp_path / "stq.keras")
    loaded = tf.keras.models.load_model(tmp_path / "stq.keras")
    for layer in stq.masked_layers(model):
        twin = loaded.get_layer(layer.name)
        assert isinstance(twin, stq.MaskedQuantConv2D) and twin.expander_compression == 2
        np.testing.assert_array_equal(twin.filter_mask.numpy(), layer.filter_mask.numpy())
    x = digits().x_test[:32]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_with_masks_copies_weights_and_refuses_layers_it_cannot_shrink():
    model = trained_like(zoo.digits_resnet(width=8, block="basic"))
    masked = stq.with_masks(model)
    names = [layer.name for layer in stq.masked_layers(masked)]
    assert names == [layer.name for layer in model.layers if type(layer) is lq.layers.QuantConv2D]
    x = digits().x_test[:32]
    np.testing.assert_allclose(masked.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="layers: stem_conv is a Conv2D that STQ masks cannot shrink"):
        stq.with_masks(model, layers=["stem_conv"])
    with pytest.raises(ValueError, match="no binary convolution to mask"):
        stq.with_masks(zoo.digits_resnet(width=8, conv="float"))


# -- STQ-A ------------------------------------------------------------------------------


def test_gamma_l1_penalises_the_batch_norms_after_binary_convolutions():
    model = masked_net()
    norms = stq.add_gamma_l1(model, 1e-4)
    assert norms == ["stage1_block1_bn1", "stage1_block1_bn2", "stage2_block1_bn1", "stage2_block1_bn2"]
    for name in norms:
        model.get_layer(name).gamma.assign(np.linspace(-2.0, 3.0, model.get_layer(name).gamma.shape[0]))
    expected = 1e-4 * sum(np.abs(model.get_layer(name).gamma.numpy()).sum() for name in norms)
    assert np.isclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)
    stq.add_gamma_l1(model, 1e-4)  # once is enough: no second penalty
    assert np.isclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="already has an L1 penalty"):
        stq.add_gamma_l1(model, 1e-5)
    with pytest.raises(ValueError, match="strength"):
        stq.add_gamma_l1(masked_net(), 0.0)


def test_stq_a_without_batch_norm_after_a_binary_convolution_names_the_layer():
    inputs = tf.keras.Input((8, 8, 4))
    x = stq.MaskedQuantConv2D(8, 3, name="lonely_conv", **BINARY)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D(name="pool")(x))
    for call in (lambda: stq.add_gamma_l1(model), lambda: stq.prune_filters(model, 0.5)):
        with pytest.raises(ValueError, match="BatchNormalization .* lonely_conv is followed by pool"):
            call()


def test_stq_a_prunes_bottleneck_blocks_and_refuses_reactnet_blocks_listing_the_allowed_ones():
    bottleneck = trained_like(masked_net(block="bottleneck"))
    inner = [layer.name for layer in stq.masked_layers(bottleneck) if stq.channel_readers(bottleneck, layer)]
    assert inner and all(name.endswith(("_reduce", "_conv")) for name in inner)
    assert stq.prune_filters(bottleneck, 0.5).pfr > 0.3
    x = digits().x_test[:64]
    plain = pruning.strip_pruning(bottleneck)
    np.testing.assert_allclose(plain.predict(x, verbose=0), bottleneck.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    reactnet = masked_net(block="reactnet")
    with pytest.raises(ValueError, match=r"stage1_block1_conv is followed by stage1_block1_scale \(ChannelScale\);"
                                         r".* and \d+ more\. Allowed: .*'bireal', 'basic' and 'bottleneck'"):
        stq.prune_filters(reactnet, 0.5)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, True, "half"])
def test_target_pfr_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match=r"target_pfr must be a number in \[0, 1\)"):
        stq.prune_filters(masked_net(), bad)
    with pytest.raises(ValueError, match="target_pfr"):
        callbacks.PruneFilters(bad, epoch=1)


def test_one_global_threshold_prunes_the_smallest_scales_and_their_channels():
    model = masked_net(width=16)
    rng = np.random.default_rng(0)
    for layer in stq.masked_layers(model):
        bn = stq.filter_batch_norm(layer)
        bn.gamma.assign(rng.uniform(-2.0, 2.0, bn.gamma.shape).astype(np.float32))
    result = stq.prune_filters(model, 0.5)
    assert abs(result.pfr - 0.5) < 0.03 and result.pfr == pytest.approx(cost.model_cost(model).pfr)
    for layer in stq.masked_layers(model):
        gamma = np.abs(stq.filter_batch_norm(layer).gamma.numpy())
        pruned = ~layer.filter_mask.numpy().any(axis=0)
        np.testing.assert_array_equal(pruned, gamma <= result.threshold)   # one threshold, every layer
        assert result.pruned[layer.name] == pruned.sum()
    # The inner channels of a block go with the second convolution's 2D filters on them.
    first, second = model.get_layer("stage1_block1_conv1"), model.get_layer("stage1_block1_conv2")
    gone = ~first.filter_mask.numpy().any(axis=0)
    assert gone.any() and not second.filter_mask.numpy()[gone].any()
    # Pruning again to the same target changes nothing; a higher one prunes more.
    assert stq.prune_filters(model, 0.5).pfr == result.pfr
    assert stq.prune_filters(model, 0.7).pfr > result.pfr


def test_filters_kept_in_steps_and_layers_capped():
    model = masked_net(width=16)
    stq.prune_filters(model, 0.6, channel_multiple=8, max_layer_fraction=0.75)
    for layer in stq.masked_layers(model):
        live = int(layer.filter_mask.numpy().any(axis=0).sum())
        assert live % 8 == 0 and live >= 0.25 * layer.filters


class _Interrupt(Exception):
    pass


def _fit_with_pruning(x, y, backup, interrupt_at=None):
    class Stop(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == interrupt_at:
                raise _Interrupt()

    def run(extra):
        model = masked_net(seed=3)   # a fresh process would start like this
        stq.add_gamma_l1(model, 1e-4)
        model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, epochs=3, batch_size=64, shuffle=False, verbose=0,
                            callbacks=[callbacks.PruneFilters(0.5, epoch=1),
                                       tf.keras.callbacks.BackupAndRestore(str(backup)), *extra])
        return model, history

    if interrupt_at is not None:
        with pytest.raises(_Interrupt):
            run([Stop()])
    return run([])


def test_prune_callback_logs_pfr_and_a_resumed_run_ends_with_the_same_masks(tmp_path):
    tf.config.experimental.enable_op_determinism()
    x, y = digits().x_train[:256], digits().y_train[:256]
    straight, history = _fit_with_pruning(x, y, tmp_path / "a")
    assert history.history["stq_pfr"][0] == 0.0 and abs(history.history["stq_pfr"][1] - 0.5) < 0.05
    assert history.history["stq_bit_ops"][1] < history.history["stq_bit_ops"][0]
    resumed, _ = _fit_with_pruning(x, y, tmp_path / "b", interrupt_at=1)
    for layer in stq.masked_layers(straight):
        np.testing.assert_array_equal(resumed.get_layer(layer.name).filter_mask.numpy(), layer.filter_mask.numpy())
    restored = callbacks.PruneFilters.from_config(callbacks.PruneFilters(0.25, 2, channel_multiple=8).get_config())
    assert (restored.target_pfr, restored.epoch, restored.channel_multiple) == (0.25, 2, 8)


# -- export -----------------------------------------------------------------------------


def stq_a_net(block, width=16):
    model = trained_like(masked_net(block=block, width=width))
    stq.prune_filters(model, 0.5)
    return trained_like(model)  # the same BatchNorm draw, statistics of the pruned net


@pytest.mark.parametrize("block", ["basic", "bireal"])
def test_export_removes_masked_filters_and_computes_the_same(block):
    model = stq_a_net(block)
    plain = pruning.strip_pruning(model)
    assert not stq.masked_layers(plain)
    kernels = binary_kernels(plain)
    assert len(kernels) == 4 and all(np.all(k != 0) for k in kernels.values())
    for layer in stq.masked_layers(model):
        live = int(layer.filter_mask.numpy().any(axis=0).sum())
        assert kernels[layer.name].shape[-1] == live
    if block == "basic":
        # Inner channels are gone from both convolutions, no scatter needed for them.
        first = model.get_layer("stage1_block1_conv1")
        assert kernels["stage1_block1_conv2"].shape[2] == int(first.filter_mask.numpy().any(axis=0).sum())
        assert "stage1_block1_bn1_scatter" not in [layer.name for layer in plain.layers]
    # Filters feeding a residual addition are scattered back in place.
    scatter = "stage1_block1_bn2_scatter" if block == "basic" else "stage1_block1_bn_scatter"
    assert isinstance(plain.get_layer(scatter), shrink.ChannelScatter)
    x = digits().x_test[:128]
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    assert cost.model_cost(plain).bit_ops == cost.model_cost(model).bit_ops
    result = convert.convert(model, calibration_data=x)
    assert result.float_fallbacks == [] and result.census["LceBconv2d"] == 4
    assert result.parity.argmax_agreement >= 0.99


def test_stq_b_exports_one_dense_binary_convolution_per_group():
    model = trained_like(masked_net(width=16, expander_compression=2, seed=1))
    assert cost.model_cost(model).pfr == 0.5
    plain = pruning.strip_pruning(model)
    kernels = binary_kernels(plain)
    assert sorted(kernels) == sorted(f"{layer.name}_g{g}" for layer in stq.masked_layers(model) for g in (0, 1))
    assert kernels["stage1_block1_conv1_g0"].shape == (3, 3, 8, 8)
    assert kernels["stage2_block1_conv2_g1"].shape == (3, 3, 16, 16)
    x = digits().x_test[:128]
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    result = convert.convert(model, calibration_data=x)
    assert result.float_fallbacks == [] and result.census["LceBconv2d"] == 8


def test_a_mask_that_cannot_be_shrunk_is_refused_by_name():
    model = masked_net(width=32)
    layer = model.get_layer("stage1_block1_conv2")
    rng = np.random.default_rng(0)
    # A different random half of the inputs for every filter: 32 convolutions of one filter each.
    layer.filter_mask.assign(np.stack([rng.permutation(32) < 16 for _ in range(32)], axis=1).astype(np.float32))
    with pytest.raises(ValueError, match="stage1_block1_conv2: its mask cannot be shrunk"):
        convert.convert(model, calibration_data=digits().x_test[:16])
    layer.filter_mask.assign(np.full((32, 32), 0.5, np.float32))
    with pytest.raises(ValueError, match="stage1_block1_conv2: filter_mask must hold only 0 and 1"):
        pruning.strip_pruning(model)


# -- cost and summary -------------------------------------------------------------------


def test_cost_and_summary_report_pfr_bit_ops_and_mbit(tmp_path, capsys):
    bnn = zoo.digits_resnet(width=8, block="basic")
    model = masked_net(expander_compression=2)
    bnn_cost, model_cost = cost.model_cost(bnn), cost.model_cost(model)
    assert bnn_cost.pfr == 0.0 and model_cost.pfr == 0.5
    assert model_cost.bit_ops * 2 == bnn_cost.bit_ops
    binary = [c for c in model_cost.layers if c.kind == "binary"]
    assert all(c.binary_params * 2 == c.filters_2d * 9 for c in binary)
    assert model_cost.params_mbit < bnn_cost.params_mbit
    assert "PFR (pruned 2D filters / all of the binary layers) = 0.5000" in model_cost.table()
    model.save(tmp_path / "stq.keras")
    status, out, _ = run_cli(capsys, "summary", tmp_path / "stq.keras", "--json")
    assert status in (0, None) and json.loads(out)["pfr"] == 0.5
    status, out, _ = run_cli(capsys, "summary", tmp_path / "stq.keras")
    assert "PFR (pruned 2D filters / all of the binary layers) = 0.5000" in out


def test_zoo_basic_blocks_have_two_binary_convolutions_per_shortcut():
    for builder, convs in ((zoo.digits_resnet, 4), (lambda **kw: zoo.resnet18((32, 32, 3), 10, width=8, **kw), 16)):
        model = builder(block="basic")
        binary = [layer.name for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]
        assert len(binary) == convs and binary[:2] == ["stage1_block1_conv1", "stage1_block1_conv2"]
    with pytest.raises(ValueError, match="block must be one of bireal, basic, reactnet, bottleneck"):
        zoo.digits_resnet(block="dense")
