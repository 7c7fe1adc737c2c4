"""Latent-weight-free training: Bop for the binary weights, Adam/AMSGrad for the rest.

Bop keeps a gradient average m <- m + gamma (g - m) per binary weight and flips
the weight when w * m > threshold (gamma is the "adaptivity rate" phi and
threshold the tau of PaBT). Everything that is not binary (BatchNorm, scales,
thresholds, float layers) is trained by Adam or AMSGrad with learning rate eta.
Schedules follow PaBT: step decay x0.1 every K epochs, or linear decay from an
initial to a final value.

```python
import tfbin
opt = tfbin.optimizers.bop_optimizer(learning_rate=1e-3, gamma=1e-3, threshold=1e-7)
# model.compile(opt, ...)
```
"""
import numbers

import larq as lq
import tensorflow as tf

__all__ = ["OPTIMIZERS", "SCHEDULES", "bop_optimizer", "schedule"]

OPTIMIZERS = ("adam", "amsgrad")
SCHEDULES = ("constant", "step", "linear")


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not value > 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def schedule(initial, kind="constant", steps_per_epoch=None, epochs=None, decay_every=None,
             decay_rate=0.1, final=None, name="value"):
    """A float or a Keras LearningRateSchedule over optimizer steps.

    - "constant": `initial` throughout.
    - "step": `initial * decay_rate ** k` after k * `decay_every` epochs.
    - "linear": from `initial` down to `final` over `epochs` epochs.
    """
    _positive(name, initial)
    if kind not in SCHEDULES:
        raise ValueError(f"{name} schedule must be one of {', '.join(SCHEDULES)}; got {kind!r}")
    if kind == "constant":
        return initial
    _positive_int("steps_per_epoch", steps_per_epoch)
    if kind == "step":
        _positive_int("decay_every", decay_every)
        _positive("decay_rate", decay_rate)
        # Optimizers evaluate schedules at their update count before the
        # update, so with staircase decay the first step of epoch K already
        # uses the decayed value.
        return tf.keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=decay_every * steps_per_epoch, decay_rate=decay_rate, staircase=True
        )
    _positive_int("epochs", epochs)
    if final is None or not 0 <= final <= initial:
        raise ValueError(f"final {name} must be between 0 and the initial {initial}, got {final!r}")
    return tf.keras.optimizers.schedules.PolynomialDecay(
        initial, decay_steps=epochs * steps_per_epoch, end_learning_rate=final, power=1.0
    )


def bop_optimizer(
    learning_rate=1e-3,
    gamma=1e-3,
    threshold=1e-7,
    optimizer="adam",
    schedule_kind="constant",
    steps_per_epoch=None,
    epochs=None,
    decay_every=None,
    decay_rate=0.1,
    final_learning_rate=None,
    final_gamma=None,
):
    """A `lq.optimizers.CaseOptimizer`: Bop for 1-bit variables, Adam/AMSGrad otherwise.

    Arguments:
        learning_rate: eta of Adam/AMSGrad.
        gamma: Bop's adaptivity rate (phi).
        threshold: Bop's flip threshold (tau), kept constant.
        optimizer: "adam" or "amsgrad".
        schedule_kind: "constant", "step" (x decay_rate every decay_every
            epochs, for both eta and gamma) or "linear" (eta and gamma decay
            linearly to final_learning_rate and final_gamma over `epochs`).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    _positive("threshold", threshold)
    # m <- m + gamma (g - m) is a moving average of the gradient only for gamma <= 1.
    if isinstance(gamma, numbers.Real) and gamma > 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    common = dict(
        kind=schedule_kind, steps_per_epoch=steps_per_epoch, epochs=epochs,
        decay_every=decay_every, decay_rate=decay_rate,
    )
    eta = schedule(learning_rate, final=final_learning_rate, name="learning_rate", **common)
    phi = schedule(gamma, final=final_gamma, name="gamma", **common)
    # larq's CaseOptimizer needs Keras-2 "legacy" optimizers.
    default = tf.keras.optimizers.legacy.Adam(eta, amsgrad=optimizer == "amsgrad")
    return lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(threshold=threshold, gamma=phi)),
        default_optimizer=default,
    )
