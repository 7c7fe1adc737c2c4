"""BNEW and BMD (tfbin.optimizers): the seed's update rules, phases, errors, saving and resuming."""
import numpy as np
import pytest
import tensorflow as tf

import larq as lq
import tfbin
from tfbin import data, optimizers, zoo

from _fit_helpers import Interrupt, StopAfter

STEPS = 2  # steps per epoch in the step-by-step tests


def binary_variable(values):
    variable = tf.Variable(np.asarray(values, np.float32))
    variable.precision = 1  # what a 1-bit quantized variable (larq) reports
    return variable


def float_variable(values):
    return tf.Variable(np.asarray(values, np.float32))


def numpy_prox(w, lam, regularizer):
    """The seed code's u_reg (bnew), w_reg (l1) and U_reg (l2)."""
    if regularizer == "bnew":
        return np.clip(w + 2 * lam * w, -1, 1)
    if regularizer == "l1":
        return np.clip(w + lam * np.sign(w), -1, 1)
    return np.clip((w + lam * np.sign(w)) / (1 + lam), -1, 1)


def gradients(step, shape):
    return np.random.default_rng(step).normal(0, 1, shape).astype(np.float32)


@pytest.fixture(scope="module")
def digits():
    arrays = data.digits_arrays()
    return arrays.x_train[:128], arrays.y_train[:128]


def test_lambda_schedule_is_the_seeds_formula():
    # The seed: lambda_e = min(lambda0 (e + 1) / E, 1), E the epochs of the run.
    opt = optimizers.BNEW(steps_per_epoch=10, epochs=1000, lambda0=1e-3)
    for epoch in (0, 1, 499, 998):
        assert opt.lambda_at(epoch) == pytest.approx(min(1e-3 * (epoch + 1) / 1000, 1))
    big = optimizers.BNEW(steps_per_epoch=10, epochs=10, lambda0=5.0)
    assert big.lambda_at(1) == 1.0  # capped at 1
    # With pretraining the ramp starts at binarize_epoch, over the remaining epochs.
    split = optimizers.BNEW(steps_per_epoch=10, epochs=12, binarize_epoch=2, freeze_epoch=11, lambda0=0.5)
    assert [split.lambda_at(e) for e in (0, 1)] == [0.0, 0.0]
    assert split.lambda_at(2) == pytest.approx(0.5 / 10) and split.lambda_at(6) == pytest.approx(0.5 * 5 / 10)
    assert [split.phase(e) for e in (0, 1, 2, 10, 11, 12)] == [
        "pretrain", "pretrain", "binarize", "binarize", "frozen", "frozen"]
    assert optimizers.BNEW(steps_per_epoch=1, epochs=8).freeze_epoch == 7  # the last epoch by default


@pytest.mark.parametrize("regularizer", optimizers.REGULARIZERS)
@pytest.mark.parametrize("order", optimizers.PROX_ORDERS)
def test_bnew_steps_are_adam_and_the_proximal_step_in_each_phase(regularizer, order):
    epochs, binarize, freeze = 5, 1, 4
    lambda0 = 0.8
    opt = optimizers.BNEW(STEPS, epochs, binarize, freeze, lambda0=lambda0, regularizer=regularizer, order=order,
                          learning_rate=0.05)
    start = np.random.default_rng(0).uniform(-1.2, 1.2, (6,)).astype(np.float32)
    kernel, scale = binary_variable(start), float_variable(start)
    # Adam's update does not depend on the weights, so a plain Adam on a copy
    # gives the update that the reference then projects as the seed does.
    adam, shadow, float_adam, float_shadow = (tf.keras.optimizers.legacy.Adam(0.05), float_variable(start),
                                              tf.keras.optimizers.legacy.Adam(0.05), float_variable(start))
    frozen_to = None
    for step in range(epochs * STEPS + 2):
        epoch = step // STEPS
        g = gradients(step, start.shape)
        w0 = shadow.numpy()
        lam = opt.lambda_at(epoch)
        opt.apply_gradients([(tf.constant(g), kernel), (tf.constant(g), scale)])
        float_adam.apply_gradients([(tf.constant(g), float_shadow)])
        if epoch >= freeze:
            frozen_to = np.where(w0 >= 0, 1.0, -1.0) if frozen_to is None else frozen_to
            shadow.assign(frozen_to)
        else:
            if order == "before":
                shadow.assign(numpy_prox(w0, lam, regularizer))
            adam.apply_gradients([(tf.constant(g), shadow)])
            if order == "after":
                shadow.assign(numpy_prox(shadow.numpy(), lam, regularizer))
        np.testing.assert_allclose(kernel.numpy(), shadow.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        np.testing.assert_allclose(scale.numpy(), float_shadow.numpy(), rtol=1e-6)  # plain Adam
    assert set(np.abs(kernel.numpy())) == {1.0}


def test_bmd_is_adam_on_dual_weights_with_tanh_of_growing_beta():
    epochs, binarize, freeze = 5, 1, 4
    opt = optimizers.BMD(STEPS, epochs, binarize, freeze, beta0=2.0, beta_growth=3.0, learning_rate=0.05)
    assert [opt.beta_at(e) for e in (0, 1, 2, 3)] == [2.0, 2.0, 6.0, 18.0]
    start = np.random.default_rng(1).uniform(-0.5, 0.5, (6,)).astype(np.float32)
    kernel = binary_variable(start)
    adam, dual = tf.keras.optimizers.legacy.Adam(0.05), float_variable(start)
    for step in range(epochs * STEPS):
        epoch = step // STEPS
        g = gradients(step, start.shape)
        before = dual.numpy()
        opt.apply_gradients([(tf.constant(g), kernel)])
        if epoch >= freeze:
            expected = np.where(before >= 0, 1.0, -1.0)  # hard sign; the dual weights stay
        else:
            adam.apply_gradients([(tf.constant(g), dual)])  # the gradient at tanh(beta w), applied to w
            w = dual.numpy()
            if epoch < binarize:
                dual.assign(np.clip(w, -1, 1))
                expected = np.clip(w, -1, 1)
            else:
                expected = np.tanh(opt.beta_at(epoch) * w)
        np.testing.assert_allclose(kernel.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        np.testing.assert_allclose(opt.get_slot(kernel, "dual").numpy(), dual.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda **kw: optimizers.BNEW(steps_per_epoch=4, **kw),
    lambda **kw: optimizers.BMD(steps_per_epoch=4, **kw),
])
def test_phase_boundaries_out_of_order_are_refused(make):
    for kwargs in (dict(epochs=10, binarize_epoch=6, freeze_epoch=5), dict(epochs=10, binarize_epoch=2,
                                                                         freeze_epoch=11)):
        with pytest.raises(ValueError, match="phase boundaries out of order.*binarize_epoch"):
            make(**kwargs)
    with pytest.raises(ValueError, match="binarize_epoch must be an int >= 0"):
        make(epochs=10, binarize_epoch=-1)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="lambda0 must be a number >= 0, got -0.1"):
        optimizers.BNEW(steps_per_epoch=4, epochs=10, lambda0=-0.1)
    with pytest.raises(ValueError, match="regularizer must be one of bnew, l1, l2"):
        optimizers.BNEW(steps_per_epoch=4, epochs=10, regularizer="l0")
    with pytest.raises(ValueError, match="order must be one of after, before"):
        optimizers.BNEW(steps_per_epoch=4, epochs=10, order="during")
    with pytest.raises(ValueError, match="steps_per_epoch must be an int >= 1"):
        optimizers.BMD(steps_per_epoch=0, epochs=10)
    with pytest.raises(ValueError, match="beta_growth must be a number >= 1"):
        optimizers.BMD(steps_per_epoch=4, epochs=10, beta_growth=0.5)
    with pytest.raises(ValueError, match="none of the trained variables is 1-bit"):
        optimizers.BNEW(steps_per_epoch=4, epochs=10).apply_gradients([(tf.ones(2), float_variable([0.1, 0.2]))])


def _relaxed_model(seed=3):
    tf.keras.utils.set_random_seed(seed)
    return zoo.residual_net((8, 8, 1), 10, [(8, 1, 2)], conv="relaxed", block="reactnet")


def _compile(model, optimizer):
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _binary_kernels(model):
    return [layer.kernel.numpy() for layer in model.layers
            if isinstance(layer, lq.layers.QuantConv2D) and isinstance(layer.kernel_quantizer, lq.quantizers.NoOp)]


@pytest.mark.parametrize("make", [
    lambda: optimizers.BNEW(2, 3, 1, 2, lambda0=0.3, regularizer="l2", order="before",
                            learning_rate=tf.keras.optimizers.schedules.PolynomialDecay(1e-2, 6, 1e-4)),
    lambda: optimizers.BMD(2, 3, 1, 2, beta0=1.5, beta_growth=4.0, learning_rate=1e-2, amsgrad=True),
])
def test_optimizers_save_and_load_with_the_model_and_train_on_identically(make, digits, tmp_path):
    x, y = digits
    opt = make()
    assert type(opt).from_config(opt.get_config()).get_config() == opt.get_config()
    model = _compile(_relaxed_model(), opt)
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    for path in (tmp_path / "model.keras", tmp_path / "model.h5"):
        model.save(path)
        loaded = tf.keras.models.load_model(path)
        assert type(loaded.optimizer) is type(opt)
        assert loaded.optimizer.get_config() == opt.get_config()
        for ours, theirs in zip(model.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    # tf.keras's .keras format does not keep a legacy optimizer's state (Adam's
    # neither); .h5 does: the moments, BMD's dual weights and the step count
    # come back, and both models go on to the same frozen binary weights.
    assert int(loaded.optimizer.iterations) == 2
    for m in (model, loaded):
        m.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    assert int(loaded.optimizer.iterations) == int(opt.iterations) == 6
    for ours, theirs in zip(_binary_kernels(model), _binary_kernels(loaded)):
        assert set(np.abs(ours).ravel()) == {1.0}
        np.testing.assert_array_equal(ours, theirs)


def _resumable_run(x, y, backup_dir, make, interrupt_at=None):
    def fresh():
        return _compile(_relaxed_model(seed=7), make()), [tf.keras.callbacks.BackupAndRestore(str(backup_dir))]

    model, cbs = fresh()
    if interrupt_at is not None:
        with pytest.raises(Interrupt):
            model.fit(x, y, epochs=4, batch_size=64, shuffle=False, verbose=0, callbacks=cbs + [StopAfter(1)])
        model, cbs = fresh()  # a fresh process would start like this
    model.fit(x, y, epochs=4, batch_size=64, shuffle=False, verbose=0, callbacks=cbs)
    return model


def test_backup_and_restore_resumes_in_the_right_phase(digits, tmp_path):
    # BMD: its state is Adam's, the step count that gives the phase, and the dual weights.
    def make():
        return optimizers.BMD(2, 4, 1, 3, beta_growth=5.0, learning_rate=1e-2)

    tf.config.experimental.enable_op_determinism()
    x, y = digits
    straight = _resumable_run(x, y, tmp_path / "a", make)
    resumed = _resumable_run(x, y, tmp_path / "b", make, interrupt_at=1)
    assert int(resumed.optimizer.iterations) == 8
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(set(np.abs(k).ravel()) == {1.0} for k in _binary_kernels(resumed))


def test_demo_trains_converts_and_checks_every_row(tmp_path):
    report = tfbin.demo.run_demo(method="bnew", epochs=3, width=8, out=str(tmp_path), verbose=0)
    rows = {row["name"]: row for row in report["models"]}
    assert list(rows) == ["ste", "bmd", "bop", "bnew", "reactnet_kd"]
    assert report["phases"] == {"start_epoch": 1, "end_epoch": 2, "label": "BNEW / BMD binarize"}
    for name, row in rows.items():
        for key in ("accuracy", "bit_ops", "size_bytes", "latency_ms", "parity_max_abs_diff", "argmax_agreement"):
            assert key in row, (name, key)
        # Converted by tfbin.convert.convert: no binary layer left as float, parity held.
        assert row["op_census"]["LceBconv2d"] == 4, name
        assert row["argmax_agreement"] >= 0.99, name
        assert row["accuracy"] > 0.3, name  # 3 epochs on 10 classes: it learned something
    assert len({row["bit_ops"] for row in rows.values()}) == 1  # one architecture of binary convolutions
    assert rows["reactnet_kd"]["op_census"]["PRELU"] == 4
    assert (tmp_path / "report.json").exists() and (tmp_path / "training_curves.png").exists()
