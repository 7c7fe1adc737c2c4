import csv
import warnings

import numpy as np
import pytest
import tensorflow as tf

import larq as lq
import tfbin
from _fit_helpers import Interrupt, StopAfter, VariancesAtEpochEnd, reshuffling_pipeline
from tfbin import batchnorm, callbacks, convert, cost, data, layers, optimizers, pabt, pruning, zoo


@pytest.fixture(scope="module")
def digits():
    arrays = data.digits_arrays()
    # A fixed subset keeps each fit to a few steps.
    return arrays.x_train[:256], arrays.y_train[:256], arrays.x_test[:128]


def mbn_model(m=2, n=2, seed=0):
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=m, activation_bases=n)
    model.compile(optimizers.bop_optimizer(), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def mbn_layers(model):
    return [layer for layer in model.layers if isinstance(layer, layers.MultiBaseConv2D)]


# -- schedule ---------------------------------------------------------------

def test_linear_schedule_goes_from_all_to_one():
    schedule = pruning.LinearSchedule(start_epoch=2, end_epoch=10)
    counts = [schedule.live_count(9, epoch) for epoch in range(13)]
    assert counts == [9, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1]
    assert schedule(2) == 0.0 and schedule(6) == 0.5 and schedule(12) == 1.0


def test_polynomial_schedule_prunes_early_and_ends_at_one():
    linear = pruning.LinearSchedule(0, 10)
    poly = pruning.PolynomialSchedule(0, 10, power=3)
    assert poly.live_count(9, 2) < linear.live_count(9, 2)
    assert poly.live_count(9, 10) == 1
    counts = [poly.live_count(9, t / 4) for t in range(41)]
    assert counts == sorted(counts, reverse=True)


def test_a_custom_schedule_object_drives_the_callback_and_serializes():
    @tfbin.registry.register
    class HalfAtOnce(pruning.PruningSchedule):
        def fraction(self, progress):
            return 0.5 if progress < 1 else 1.0

    prune = callbacks.PruneToBinary(schedule=HalfAtOnce(1, 3))
    assert (prune.start_epoch, prune.end_epoch) == (1, 3)
    assert prune.schedule.live_count(9, 1) == 5 and prune.schedule.live_count(9, 3) == 1
    restored = callbacks.PruneToBinary.from_config(prune.get_config())
    assert type(restored.schedule) is HalfAtOnce
    assert restored.schedule.get_config() == prune.schedule.get_config()


def test_string_shortcuts_give_the_collaborator_objects():
    prune = callbacks.PruneToBinary(2, 8, schedule="linear", importance="random", seed=3)
    assert isinstance(prune.schedule, pruning.LinearSchedule)
    assert isinstance(prune.importance, pabt.RandomImportance) and prune.importance.seed == 3
    restored = callbacks.PruneToBinary.from_config(prune.get_config())
    assert isinstance(restored.schedule, pruning.LinearSchedule)
    assert isinstance(restored.importance, pabt.RandomImportance) and restored.importance.seed == 3
    assert restored.schedule.get_config() == {"start_epoch": 2, "end_epoch": 8}
    default = callbacks.PruneToBinary(2, 8)
    assert isinstance(default.schedule, pruning.PolynomialSchedule) and default.schedule.power == 3
    assert isinstance(default.importance, pabt.TaylorImportance) and default.importance.window is None
    assert (default.selection.order, default.selection.budget, default.fading) == ("any", "layer", None)


def test_the_constructor_defaults_are_those_of_for_epochs():
    x = np.zeros((4, 8, 8, 1), np.float32)
    direct = callbacks.PruneToBinary(3, 12, statistics_data=x)
    assert direct.get_config() == callbacks.PruneToBinary.for_epochs(30, statistics_data=x).get_config()
    assert (direct.frequency, direct.update_every) == ("step", 1)


def test_schedule_object_and_epochs_are_not_both_given():
    with pytest.raises(ValueError, match="belong to the schedule object"):
        callbacks.PruneToBinary(1, 4, schedule=pruning.LinearSchedule(1, 4))
    with pytest.raises(ValueError, match="needs start_epoch and end_epoch"):
        callbacks.PruneToBinary(schedule="linear")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(start_epoch=5, end_epoch=5), "start_epoch"),
        (dict(start_epoch=6, end_epoch=2), "start_epoch"),
        (dict(start_epoch=0, end_epoch=4, schedule="cubic"), "schedule"),
        (dict(start_epoch=0, end_epoch=4, importance="weights"), "importance"),
        (dict(start_epoch=0, end_epoch=4, frequency="batch"), "frequency"),
        (dict(start_epoch=0, end_epoch=4, frequency="step", update_every=0), "update_every"),
        (dict(start_epoch=0, end_epoch=4, fading=5), "fading"),
        (dict(start_epoch=0, end_epoch=4, selection="global"), "selection"),
        (dict(start_epoch=0, end_epoch=4, statistics_batches=0), "statistics_batches"),
        (dict(start_epoch=0, end_epoch=4, statistics_batch_size=1), "statistics_batch_size"),
        (dict(start_epoch=0, end_epoch=4, smoothness_metric=""), "smoothness_metric"),
        (dict(start_epoch=0, end_epoch=4, seed=1.5), "seed"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.PruneToBinary(**kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: pabt.Fading(0), "steps"),
        (lambda: pabt.Fading(2.5), "steps"),
        (lambda: pabt.Selection(order="weights"), "order"),
        (lambda: pabt.Selection(budget="network"), "budget"),
        (lambda: pabt.TaylorImportance(window=0), "window"),
        (lambda: pabt.RandomImportance(seed=0.5), "seed"),
    ],
)
def test_bad_collaborator_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_every_option_survives_get_config():
    x = np.zeros((4, 8, 8, 1), np.float32)
    prune = callbacks.PruneToBinary(2, 8, frequency="epoch", update_every=3, fading=pabt.Fading(5),
                                    selection=pabt.Selection("weights_first", "global"),
                                    importance=pabt.TaylorImportance(window=50), statistics_data=x,
                                    statistics_batches=3, statistics_batch_size=32, smoothness_metric="val_acc",
                                    seed=4)
    config = prune.get_config()
    assert "statistics_data" not in config  # data is not configuration
    restored = callbacks.PruneToBinary.from_config(config, statistics_data=x)
    assert restored.get_config() == config
    assert restored.statistics_data is x
    assert (restored.fading.steps, restored.selection.order, restored.selection.budget,
            restored.importance.window) == (5, "weights_first", "global", 50)
    for key, value in dict(frequency="epoch", update_every=3, statistics_batches=3, statistics_batch_size=32,
                           smoothness_metric="val_acc", seed=4).items():
        assert getattr(restored, key) == value
    assert callbacks.PruneToBinary.from_config(config).statistics_data is None


def test_end_beyond_planned_epochs_fails_at_train_begin(digits):
    x, y, _ = digits
    model = mbn_model()
    with pytest.raises(ValueError, match="end_epoch .* beyond the planned epochs"):
        model.fit(x, y, epochs=3, callbacks=[callbacks.PruneToBinary(1, 5)], verbose=0)


def test_step_pruning_needs_a_known_epoch_length(digits):
    x, y, _ = digits
    model = mbn_model()
    unknown_length = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).filter(lambda a, b: True)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(unknown_length, epochs=3, verbose=0,
                  callbacks=[callbacks.PruneToBinary(1, 2)])


def test_model_without_multi_base_layers_fails_at_train_begin(digits):
    x, y, _ = digits
    model = zoo.digits_resnet(width=8, conv="bnn")
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="no MultiBaseConv2D"):
        model.fit(x, y, epochs=2, callbacks=[callbacks.PruneToBinary(0, 1)], verbose=0)


# -- selection ----------------------------------------------------------------

def test_selection_picks_the_least_important_live_convolution():
    mask = np.array([[1, 1, 0], [1, 0.5, 1]])  # (0, 2) pruned, (1, 1) fading
    scores = np.array([[5.0, 0.1, 0.0], [3.0, 0.05, 9.0]])
    assert pabt.Selection().least_important(mask, scores) == 1  # neither the pruned nor the fading one
    np.testing.assert_array_equal(layers.live_mask(mask), [[True, True, False], [True, True, True]])
    np.testing.assert_array_equal(layers.live_mask(mask, include_fading=False),
                                  [[True, True, False], [True, False, True]])


def test_magnitude_importance_follows_the_scales():
    layer = layers.MultiBaseConv2D(4, 3, weight_bases=2, activation_bases=2)
    layer.build((None, 6, 6, 2))
    layer.gamma.assign([[0.5, -3.0], [0.1, 2.0]])
    scores = pabt.MagnitudeImportance().scores(layer, event=0, layer_index=0)
    assert np.argmax(scores) == 1 and np.argmin(scores) == 2  # flat (m, n) order


def test_random_importance_is_reproducible_per_event():
    layer = layers.MultiBaseConv2D(4, 3, weight_bases=3, activation_bases=3)
    layer.build((None, 6, 6, 2))
    a = pabt.RandomImportance(seed=1).scores(layer, event=4, layer_index=2)
    b = pabt.RandomImportance(seed=1).scores(layer, event=4, layer_index=2)
    c = pabt.RandomImportance(seed=1).scores(layer, event=5, layer_index=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _attached(model, epochs=6, steps=4, **kwargs):
    prune = callbacks.PruneToBinary(**kwargs)
    prune.set_model(model)
    prune.set_params({"epochs": epochs, "steps": steps})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune.on_train_begin()
    return prune


def test_global_budget_follows_the_network_total_and_keeps_one_per_layer():
    model = mbn_model(m=3, n=3)
    prune = _attached(model, start_epoch=0, end_epoch=4, frequency="epoch", selection=pabt.Selection(budget="global"),
                      importance="random")
    for epoch in range(5):
        prune.on_epoch_begin(epoch)
        live = [len(layer.live_pairs()) for layer in prune.layers]
        assert sum(live) == 4 * prune.schedule.live_count(9, epoch)
        assert min(live) >= 1
    assert live == [1, 1, 1, 1]


def test_global_budget_prunes_the_least_important_layer_first():
    model = mbn_model(m=2, n=2)
    prune = _attached(model, start_epoch=0, end_epoch=3, schedule="linear", frequency="epoch",
                      selection=pabt.Selection(budget="global"))
    # Layer 0 has one dominant convolution, the others are even: per-layer
    # normalised, layer 0's small scores are the smallest of the network.
    for index, layer in enumerate(prune.layers):
        layer.importance.assign([[10.0, 0.1], [0.1, 0.1]] if index == 0 else [[1.0, 1.0], [1.0, 1.1]])
    prune.on_epoch_begin(1)  # a third of the way: 4 of the 16 convolutions go
    # Layer 0 falls to its dominant convolution, then the first of the even layers gives one.
    assert [len(layer.live_pairs()) for layer in prune.layers] == [1, 3, 4, 4]
    assert prune.layers[0].live_pairs() == [(0, 0)]


@pytest.mark.parametrize("order, axis, base", [("any", None, None), ("activations_first", 0, 1),
                                               ("weights_first", 1, 2)])
def test_pruning_order_removes_whole_bases_first(order, axis, base):
    model = mbn_model(m=3, n=3)
    prune = _attached(model, epochs=8, start_epoch=0, end_epoch=8, schedule="linear", frequency="epoch",
                      selection=pabt.Selection(order=order))
    layer = prune.layers[0]
    # Columns (activation bases) sum to 9.5, 6, 21; rows (weight bases) to 12, 13, 11.5.
    layer.importance.assign([[5.0, 1.0, 6.0], [4.0, 2.0, 7.0], [0.5, 3.0, 8.0]])
    prune.on_epoch_begin(3)  # 9 -> 6 live
    live = layer.mask.numpy() > 0
    assert live.sum() == 6
    if axis is None:  # the three least important, wherever they are
        assert not live[2, 0] and not live[0, 1] and not live[1, 1]
    else:  # one whole base, the least important one
        dead = np.flatnonzero(~live.any(axis=axis))
        assert list(dead) == [base]


def test_fading_scales_a_pruned_convolution_down_and_exports_it_faithfully(digits):
    x, _, x_test = digits
    model = mbn_model(m=2, n=2)
    prune = _attached(model, start_epoch=0, end_epoch=1, steps=4, schedule="linear", fading=pabt.Fading(4))
    layer = prune.layers[0]

    def masks():
        return sorted(layer.mask.numpy().reshape(-1))

    prune.on_epoch_begin(0)
    prune.on_train_batch_begin(0)
    prune.on_train_batch_begin(1)
    assert masks() == [1.0, 1.0, 1.0, 1.0]
    prune.on_train_batch_begin(2)  # half-way: 3 of 4 live, one starts fading
    assert masks() == [0.75, 1.0, 1.0, 1.0]
    assert len(layer.live_pairs()) == 4  # a fading convolution is still computed ...
    costs = {c.name: c for c in cost.model_cost(model).layers}
    assert costs[layer.name].live_convolutions == 4  # ... and costs
    plain = pruning.strip_pruning(tfbin.testing.realistic_weights(model, x))
    np.testing.assert_allclose(plain.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                               rtol=1e-4, atol=1e-4)
    prune.on_train_batch_begin(3)
    assert masks() == [0.5, 0.75, 1.0, 1.0]
    prune.on_epoch_begin(1)
    prune.on_train_batch_begin(0)  # the end: the last one starts fading
    assert masks() == [0.25, 0.5, 0.75, 1.0]
    for step in range(1, 4):
        prune.on_train_batch_begin(step)
    assert masks() == [0.0, 0.0, 0.0, 1.0]
    assert len(layer.live_pairs()) == 1


def test_importance_window_keeps_an_exponential_sum():
    model = mbn_model(m=2, n=2)
    prune = _attached(model, start_epoch=2, end_epoch=4, importance=pabt.TaylorImportance(window=4))
    layer = prune.layers[0]
    layer.importance.assign(np.full((2, 2), 8.0))
    prune.on_epoch_begin(0)
    prune.on_train_batch_begin(0)
    prune.on_train_batch_begin(1)
    np.testing.assert_allclose(layer.importance.numpy(), np.full((2, 2), 8.0 * 0.75 ** 2))


def test_smoothness_is_the_largest_drop_below_the_value_before_pruning():
    model = mbn_model()
    prune = _attached(model, epochs=7, start_epoch=2, end_epoch=4)
    logged, falls = [], []
    for epoch, accuracy in enumerate([0.5, 0.9, 0.8, 0.85, 0.7, 0.6, 0.95]):
        prune.on_epoch_begin(epoch)
        logs = {"val_accuracy": accuracy}
        prune.on_epoch_end(epoch, logs)
        logged.append(logs["pabt_max_drop"])
        falls.append(logs["pabt_max_fall"])
    # Reference 0.9 (end of epoch 1); the phase is epochs 2..4 (the last pruning is at the start of 4);
    # the fall to 0.6 at epoch 5, in fine-tuning, is not pruning's.
    np.testing.assert_allclose(logged, [0, 0, 0.1, 0.1, 0.2, 0.2, 0.2])
    np.testing.assert_allclose(falls, logged)  # the reference stayed the best value


def test_smoothness_also_measures_a_fall_after_a_climb_during_pruning():
    model = mbn_model()
    prune = _attached(model, epochs=6, start_epoch=1, end_epoch=4)
    logged = []
    for epoch, accuracy in enumerate([0.7, 0.9, 0.95, 0.88, 0.93, 0.5]):
        prune.on_epoch_begin(epoch)
        logs = {"val_accuracy": accuracy}
        prune.on_epoch_end(epoch, logs)
        logged.append((logs["pabt_max_drop"], logs["pabt_max_fall"]))
    # Never below the reference 0.7, but 0.95 -> 0.88 during pruning is a fall of 0.07.
    np.testing.assert_allclose(logged, [(0, 0), (0, 0), (0, 0), (0, 0.07), (0, 0.07), (0, 0.07)], atol=1e-9)


def test_smoothness_needs_the_metric_and_a_reference():
    model = mbn_model()
    prune = _attached(model, start_epoch=1, end_epoch=2)
    logs = {"loss": 1.0}
    with pytest.warns(UserWarning, match="not in the logs"):
        prune.on_epoch_end(0, logs)
    assert "pabt_max_drop" not in logs
    prune = _attached(model, start_epoch=0, end_epoch=2)
    logs = {"val_accuracy": 0.5}
    with pytest.warns(UserWarning, match="before pruning started is unknown"):
        prune.on_epoch_end(0, logs)
    assert np.isnan(logs["pabt_max_drop"]) and np.isnan(logs["pabt_max_fall"])


# -- training -----------------------------------------------------------------

@pytest.mark.parametrize("frequency", ["epoch", "step"])
def test_fit_prunes_every_layer_to_one_convolution_and_logs(digits, tmp_path, frequency):
    x, y, _ = digits
    model = mbn_model()
    prune = callbacks.PruneToBinary(1, 3, frequency=frequency, update_every=2)
    log = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0,
                        callbacks=[prune, tf.keras.callbacks.CSVLogger(str(log))])
    assert [len(layer.live_pairs()) for layer in prune.layers] == [1, 1, 1, 1]
    live = history.history["pabt_live_convolutions"]
    assert live[0] == 16 and live[-1] == 4
    assert live == sorted(live, reverse=True)
    assert history.history["pabt_weight_bits"][-1] == 1.0
    assert history.history["pabt_activation_bits"][-1] == 1.0
    assert history.history["pabt_bit_ops"][-1] == history.history["pabt_bit_ops"][0] / 4
    rows = list(csv.DictReader(log.open()))
    assert float(rows[-1]["pabt_live_convolutions"]) == 4
    assert "pabt_live/stage1_block1_conv" in rows[0]


def test_fit_logs_smoothness_and_leaves_reestimated_statistics(digits):
    x, y, x_test = digits
    model = mbn_model(m=2, n=2)
    prune = callbacks.PruneToBinary(1, 3, statistics_data=x, statistics_batches=2, statistics_batch_size=128)
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0, validation_data=(x_test, y[:128]),
                        callbacks=[prune]).history
    reference = history["val_accuracy"][0]
    expected = max(0.0, max(reference - a for a in history["val_accuracy"][1:4]))
    assert history["pabt_max_drop"][0] == 0.0
    assert history["pabt_max_drop"][-1] == pytest.approx(expected)
    # At the end of training the statistics are the re-estimated ones.
    norms = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    final = [layer.moving_variance.numpy().copy() for layer in norms]
    batchnorm.reestimate_statistics(model, x, batches=2, batch_size=128)
    for layer, variance in zip(norms, final):
        np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-5)


@pytest.mark.parametrize("end_epoch, pruned_at_the_end", [(1, False), (2, True)])
def test_statistics_are_estimated_again_at_the_end_only_if_the_network_changed(digits, end_epoch,
                                                                               pruned_at_the_end):
    x, y, _ = digits
    model = mbn_model(m=2, n=2)
    prune = callbacks.PruneToBinary(0, end_epoch, frequency="epoch", statistics_data=reshuffling_pipeline(x),
                                    statistics_batches=2)
    probe = VariancesAtEpochEnd()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[prune, probe])
    assert all(len(layer.live_pairs()) == 1 for layer in mbn_layers(model))
    final = [layer.moving_variance.numpy() for layer in batchnorm.batch_norm_layers(model)]
    # The last removal at the end of training gets statistics of its own; otherwise the model keeps those of
    # the last epoch, which its last validation used.
    same = all(np.array_equal(a, b) for a, b in zip(probe.variances, final))
    assert same is not pruned_at_the_end


def test_taylor_importance_accumulates_and_resets_after_a_pruning_event(digits):
    x, y, _ = digits
    model = mbn_model()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    layer = mbn_layers(model)[0]
    assert np.all(layer.importance.numpy() > 0)
    prune = callbacks.PruneToBinary(0, 3, schedule="linear", frequency="epoch")
    prune.set_model(model)
    prune.set_params({"epochs": 3, "steps": 4})
    prune.on_train_begin()
    prune.on_epoch_begin(0)  # progress 0: nothing pruned, importance kept
    assert len(layer.live_pairs()) == 4
    before = layer.importance.numpy().copy()
    prune.on_epoch_begin(1)
    assert len(layer.live_pairs()) == 3
    assert np.all(layer.importance.numpy() == 0)
    dead = [(m, n) for m in range(2) for n in range(2) if (m, n) not in layer.live_pairs()][0]
    live_scores = [before[p] for p in layer.live_pairs()]
    assert before[dead] <= min(live_scores)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert layer.importance.numpy()[dead] == 0  # a pruned convolution scores nothing
    assert all(layer.importance.numpy()[p] > 0 for p in layer.live_pairs())


RESUME_OPTIONS = [
    {},
    dict(fading=pabt.Fading(3), importance=pabt.TaylorImportance(window=4),
         selection=pabt.Selection(order="activations_first", budget="global"), statistics_batches=1),
]


def _final_state(x, y, backup_dir, options, interrupt_at=None):
    def start():
        model = mbn_model(m=3, n=3, seed=7)  # a fresh process would start like this
        statistics = {"statistics_data": x} if options else {}
        return model, [callbacks.PruneToBinary(1, 5, **statistics, **options),
                       tf.keras.callbacks.BackupAndRestore(str(backup_dir))]

    model, cbs = start()
    if interrupt_at is not None:
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=7, batch_size=64, shuffle=False, verbose=0,
                      callbacks=cbs + [StopAfter(interrupt_at)])
        model, cbs = start()
    model.fit(x, y, epochs=7, batch_size=64, shuffle=False, verbose=0, callbacks=cbs)
    norms = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    return ([layer.mask.numpy() for layer in mbn_layers(model)],
            [layer.live_pairs() for layer in mbn_layers(model)],
            [layer.importance.numpy() for layer in mbn_layers(model)],
            [layer.moving_mean.numpy() for layer in norms])


@pytest.mark.parametrize("options", RESUME_OPTIONS, ids=["defaults", "every_option"])
def test_resume_mid_pruning_gives_the_same_final_state(digits, tmp_path, options):
    tf.config.experimental.enable_op_determinism()
    x, y, _ = digits
    straight = _final_state(x, y, tmp_path / "a", options)
    resumed = _final_state(x, y, tmp_path / "b", options, interrupt_at=2)
    assert all(len(p) == 1 for p in straight[1])
    assert resumed[1] == straight[1]
    for kind_straight, kind_resumed in zip(straight, resumed):
        if kind_straight is straight[1]:
            continue
        for a, b in zip(kind_straight, kind_resumed):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# -- strip and export ---------------------------------------------------------

def test_strip_pruning_gives_a_plain_bnn_with_the_same_outputs_and_cost(digits):
    x, y, x_test = digits
    model = mbn_model(m=3, n=3)
    model.fit(x, y, epochs=4, batch_size=64, verbose=0, callbacks=[callbacks.PruneToBinary(1, 3)])
    plain = pruning.strip_pruning(model)
    assert not [layer for layer in plain.layers if isinstance(layer, layers.MultiBaseConv2D)]
    binary = [layer for layer in plain.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert [layer.name for layer in binary] == [layer.name for layer in mbn_layers(model)]
    np.testing.assert_allclose(plain.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                               rtol=1e-4, atol=1e-4)
    direct_bnn = zoo.digits_resnet(width=8, conv="mbn", weight_bases=1, activation_bases=1)
    assert cost.model_cost(model).bit_ops == cost.model_cost(direct_bnn).bit_ops
    assert cost.model_cost(plain).bit_ops == cost.model_cost(direct_bnn).bit_ops
    assert sum(w.size for w in plain.get_weights()) < sum(w.size for w in model.get_weights())
    result = convert.convert(model, calibration_data=x_test)
    assert result.census["LceBconv2d"] == len(binary)
    assert result.census.get("CONV_2D", 0) == 2  # the float stem and downsample shortcut only


def test_for_epochs_places_the_default_phase_in_the_run():
    default = callbacks.PruneToBinary.for_epochs(30)
    assert (default.start_epoch, default.end_epoch) == (3, 12)
    # The settings chosen on the validation split: prune at every step on the polynomial schedule
    # (power 3), no fading, per-layer budget.
    assert (default.frequency, default.update_every, default.fading, default.selection.order,
            default.selection.budget) == ("step", 1, None, "any", "layer")
    assert isinstance(default.schedule, pruning.PolynomialSchedule) and default.schedule.power == 3
    # Fast while many convolutions are left: a 3/3 layer is down to 3 of 9 before the phase is half over,
    # and keeps 2 until the end.
    assert default.schedule.live_count(9, 3 + 0.45 * 9) == 3
    assert default.schedule.live_count(9, 11.99) == 2 and default.schedule.live_count(9, 12) == 1
    linear = callbacks.PruneToBinary.for_epochs(30, schedule="linear")
    assert isinstance(linear.schedule, pruning.LinearSchedule) and linear.schedule.live_count(9, 3 + 0.45 * 9) == 6
    short = callbacks.PruneToBinary.for_epochs(3, frequency="epoch")
    assert (short.start_epoch, short.end_epoch, short.frequency) == (1, 2, "epoch")
    custom = callbacks.PruneToBinary.for_epochs(20, start=0.25, end=0.5)
    assert (custom.start_epoch, custom.end_epoch) == (5, 10)
    with pytest.raises(ValueError, match="epochs"):
        callbacks.PruneToBinary.for_epochs(1)
    with pytest.raises(ValueError, match="start"):
        callbacks.PruneToBinary.for_epochs(10, start=0.5, end=0.5)
    with pytest.raises(ValueError, match="end"):
        callbacks.PruneToBinary.for_epochs(10, end=1.5)


def test_train_gives_its_training_split_to_the_pruning_callback(digits):
    x, y, x_test = digits
    subset = data.Arrays(x, y, x_test, y[:128], 10)
    model = mbn_model(m=2, n=2)
    prune = callbacks.PruneToBinary(1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no statistics_data" warning
        tfbin.training.train(model, subset, epochs=2, callbacks=[prune], verbose=0)
    assert prune.statistics_data is subset
    plain = mbn_model(m=1, n=1)
    tfbin.training.train(plain, subset, epochs=1, verbose=0)
    norms = [layer for layer in plain.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    final = [layer.moving_mean.numpy().copy() for layer in norms]
    batchnorm.reestimate_statistics(plain, x)  # what train's default re-estimation gives
    for layer, mean in zip(norms, final):
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)


def test_demo_pabt_row_uses_the_default_phase_and_reports_its_smoothness():
    from tfbin.demo import pabt as pabt_demo

    prune = pabt_demo.prune_callback(12, statistics_data=None)
    default = callbacks.PruneToBinary.for_epochs(12)
    assert (prune.start_epoch, prune.end_epoch, prune.frequency, prune.update_every) \
        == (default.start_epoch, default.end_epoch, "step", 1) == (1, 5, "step", 1)
    assert pabt_demo.phases(12)["start_epoch"] == 1 and pabt_demo.phases(12)["end_epoch"] == 5
    assert (pabt_demo.phases(1)["start_epoch"], pabt_demo.phases(1)["end_epoch"]) == (0, 1)  # tfbin demo --epochs 1
    history = {"pabt_max_drop": [0.0, 0.01, 0.025], "pabt_max_fall": [0.0, 0.03, 0.04]}
    assert pabt_demo.row_extras("pabt_3x3_to_1x1", None, history) == {"pabt_max_drop": 0.025, "pabt_max_fall": 0.04}
    assert pabt_demo.row_extras("bnn", None, {"loss": [1.0]}) == {}
