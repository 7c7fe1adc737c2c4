import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from tfbin.optimizers import BOP_DEFAULTS, bop_optimizer, is_bop_variable, schedule


def values_at(learning_schedule, steps):
    return [float(learning_schedule(step)) for step in steps]


def test_constant_schedule_is_the_plain_value():
    assert schedule(1e-3) == 1e-3
    assert schedule(1e-3, "constant", steps_per_epoch=None) == 1e-3


def test_step_schedule_decays_tenfold_every_k_epochs():
    # PaBT CIFAR: x0.1 every 100 of 500 epochs; here every 2 epochs of 10 steps.
    s = schedule(1e-2, "step", steps_per_epoch=10, epochs=10, decay_every=2)
    steps = [0, 19, 20, 39, 40, 60, 99]
    np.testing.assert_allclose(
        values_at(s, steps), [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-5, 1e-6], rtol=1e-5
    )


def test_step_schedule_with_other_rate():
    s = schedule(1.0, "step", steps_per_epoch=3, decay_every=1, decay_rate=0.5)
    np.testing.assert_allclose(values_at(s, [0, 2, 3, 6, 9]), [1.0, 1.0, 0.5, 0.25, 0.125])


def test_linear_schedule_goes_from_initial_to_final():
    # PaBT ImageNet: eta 2.5e-3 -> 5e-6 over the run.
    s = schedule(2.5e-3, "linear", steps_per_epoch=10, epochs=4, final=5e-6)
    total = 40
    expected = [2.5e-3 + (5e-6 - 2.5e-3) * t / total for t in (0, 10, 20, 40)]
    np.testing.assert_allclose(values_at(s, [0, 10, 20, 40]), expected, rtol=1e-5)
    assert float(s(1000)) == pytest.approx(5e-6)  # stays at the final value


def test_schedules_drive_the_optimizer_steps():
    # Both optimizers read their schedule at their own update count.
    opt = bop_optimizer(
        learning_rate=1e-2, gamma=1e-3, schedule_kind="step", steps_per_epoch=2, epochs=4, decay_every=1,
    )
    kernel = tf.Variable(tf.ones((4,)))
    kernel.precision = 1  # what a 1-bit quantized variable reports
    scale = tf.Variable(tf.ones((2,)))
    adam, bop = opt.default, opt.optimizers[0]
    for step in range(4):
        opt.apply_gradients([(tf.ones((4,)), kernel), (tf.ones((2,)), scale)])
    # The next update is the first of epoch 2: decayed twice.
    assert int(adam.iterations) == int(bop.iterations) == 4
    assert float(adam._decayed_lr(tf.float32)) == pytest.approx(1e-4)
    assert float(bop._get_decayed_hyper("gamma", tf.float32)) == pytest.approx(1e-5)


def test_bop_optimizer_routes_binary_variables_to_bop():
    opt = bop_optimizer(learning_rate=2e-3, gamma=1e-4, threshold=1e-8)
    assert isinstance(opt, lq.optimizers.CaseOptimizer)
    predicate, bop = opt.pred_opt_pairs[0]
    assert predicate is is_bop_variable  # larq's Bop.is_binary_variable, except latent weights
    assert isinstance(bop, lq.optimizers.Bop)
    assert float(bop._get_hyper("threshold")) == pytest.approx(1e-8)
    assert float(bop._get_hyper("gamma")) == pytest.approx(1e-4)
    assert isinstance(opt.default, tf.keras.optimizers.legacy.Adam)
    assert float(opt.default._get_hyper("learning_rate")) == pytest.approx(2e-3)
    assert opt.default.amsgrad is False


def test_amsgrad_flag():
    assert bop_optimizer(optimizer="amsgrad").default.amsgrad is True


def test_linear_schedules_reach_both_optimizers():
    opt = bop_optimizer(
        learning_rate=2.5e-3, gamma=1e-4, optimizer="amsgrad", schedule_kind="linear",
        steps_per_epoch=5, epochs=2, final_learning_rate=5e-8, final_gamma=1e-8,
    )
    eta = opt.default._get_hyper("learning_rate")
    phi = opt.optimizers[0]._get_hyper("gamma")
    assert float(eta(10)) == pytest.approx(5e-8)
    assert float(phi(0)) == pytest.approx(1e-4)
    assert float(phi(5)) == pytest.approx((1e-4 + 1e-8) / 2)


def test_bop_optimizer_decays_to_the_default_fraction_when_it_knows_the_run():
    opt = bop_optimizer(steps_per_epoch=5, epochs=2)
    eta = opt.default._get_hyper("learning_rate")
    phi = opt.optimizers[0]._get_hyper("gamma")
    fraction = BOP_DEFAULTS["final_fraction"]
    assert float(eta(0)) == pytest.approx(BOP_DEFAULTS["learning_rate"])
    assert float(eta(10)) == pytest.approx(BOP_DEFAULTS["learning_rate"] * fraction)
    assert float(phi(0)) == pytest.approx(BOP_DEFAULTS["gamma"])
    assert float(phi(10)) == pytest.approx(BOP_DEFAULTS["gamma"] * fraction)
    assert float(opt.optimizers[0]._get_hyper("threshold")) == pytest.approx(BOP_DEFAULTS["threshold"])


def test_bop_optimizer_stays_constant_without_the_length_of_the_run():
    opt = bop_optimizer(learning_rate=2e-3, gamma=1e-4)
    assert float(opt.default._get_hyper("learning_rate")) == pytest.approx(2e-3)
    assert float(opt.optimizers[0]._get_hyper("gamma")) == pytest.approx(1e-4)


def test_linear_schedule_with_explicit_ends_keeps_them():
    opt = bop_optimizer(learning_rate=1e-2, gamma=1e-3, schedule_kind="linear", steps_per_epoch=5, epochs=2,
                        final_learning_rate=1e-3, final_gamma=1e-4)
    assert float(opt.default._get_hyper("learning_rate")(10)) == pytest.approx(1e-3)
    assert float(opt.optimizers[0]._get_hyper("gamma")(10)) == pytest.approx(1e-4)


def test_bop_flips_when_the_gradient_average_passes_the_threshold():
    opt = bop_optimizer(gamma=0.5, threshold=0.4)
    kernel = tf.Variable([1.0, 1.0, -1.0, -1.0])
    kernel.precision = 1
    scale = tf.Variable([1.0])
    # m = 0.5 g after one step: flips where w * m > 0.4.
    opt.apply_gradients([(tf.constant([1.0, 0.6, -1.0, 1.0]), kernel), (tf.constant([1.0]), scale)])
    np.testing.assert_array_equal(kernel.numpy(), [-1.0, 1.0, 1.0, -1.0])
    assert scale.numpy()[0] < 1.0  # Adam moved the float variable


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=0), "learning_rate must be a positive number"),
        (dict(learning_rate=-1e-3), "learning_rate must be a positive number"),
        (dict(gamma=0), "gamma must be a positive number"),
        (dict(gamma=1.5), r"gamma must be in \(0, 1\]"),
        (dict(threshold=0), "threshold must be a positive number"),
        (dict(threshold="1e-7"), "threshold must be a positive number"),
        (dict(optimizer="sgd"), "optimizer must be one of adam, amsgrad"),
        (dict(schedule_kind="cosine"), "learning_rate schedule must be one of constant, step, linear"),
        (dict(schedule_kind="step", epochs=10, decay_every=2), "steps_per_epoch must be an int >= 1"),
        (dict(schedule_kind="step", steps_per_epoch=10), "decay_every must be an int >= 1"),
        (dict(schedule_kind="step", steps_per_epoch=10, decay_every=2.5), "decay_every must be an int >= 1"),
        (dict(schedule_kind="step", steps_per_epoch=10, decay_every=2, decay_rate=0), "decay_rate must be"),
        (dict(schedule_kind="linear", steps_per_epoch=10), "epochs must be an int >= 1"),
        (
            dict(schedule_kind="linear", steps_per_epoch=10, epochs=5, final_learning_rate=1.0,
                 final_gamma=1e-6),
            "final learning_rate must be between",
        ),
        (
            dict(schedule_kind="linear", steps_per_epoch=10, epochs=5, final_learning_rate=1e-6, final_gamma=1.0),
            "final gamma must be between",
        ),
    ],
)
def test_invalid_values_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bop_optimizer(**kwargs)


def test_numpy_step_counts_are_accepted():
    s = schedule(1.0, "step", steps_per_epoch=np.int64(2), decay_every=np.int32(1))
    assert float(s(2)) == pytest.approx(0.1)
