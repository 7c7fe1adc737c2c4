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

from tfbin.choices import OPTIMIZERS, SCHEDULES
from tfbin.validation import check_int, check_number, check_one_of

__all__ = ["OPTIMIZERS", "SCHEDULES", "bop_optimizer", "is_bop_variable", "schedule"]


def is_bop_variable(variable):
    """A 1-bit variable for Bop to flip: larq's `Bop.is_binary_variable`, except latent weights.

    A kernel binarized by a quantizer marked `latent_weights = True`
    (`tfbin.quantizers.LibraSign`: IR-Net standardises real weights before the
    sign) holds real values that Adam trains; Bop would overwrite them with +-1.
    """
    quantizer = getattr(variable, "quantizer", None)
    return lq.optimizers.Bop.is_binary_variable(variable) and not getattr(quantizer, "latent_weights", False)


def schedule(initial, kind="constant", steps_per_epoch=None, epochs=None, decay_every=None,
             decay_rate=0.1, final=None, name="value"):
    """A float or a Keras LearningRateSchedule over optimizer steps.

    - "constant": `initial` throughout.
    - "step": `initial * decay_rate ** k` after k * `decay_every` epochs.
    - "linear": from `initial` down to `final` over `epochs` epochs.
    """
    check_number(name, initial, positive=True)
    check_one_of(f"{name} schedule", kind, SCHEDULES)
    if kind == "constant":
        return initial
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if kind == "step":
        check_int("decay_every", decay_every, minimum=1)
        check_number("decay_rate", decay_rate, positive=True)
        # Optimizers evaluate schedules at their update count before the
        # update, so with staircase decay the first step of epoch K already
        # uses the decayed value.
        return tf.keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=decay_every * steps_per_epoch, decay_rate=decay_rate, staircase=True
        )
    check_int("epochs", epochs, minimum=1)
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

    The 1-bit variables are those `is_bop_variable` accepts.

    Arguments:
        learning_rate: eta of Adam/AMSGrad.
        gamma: Bop's adaptivity rate (phi).
        threshold: Bop's flip threshold (tau), kept constant.
        optimizer: "adam" or "amsgrad".
        schedule_kind: "constant", "step" (x decay_rate every decay_every
            epochs, for both eta and gamma) or "linear" (eta and gamma decay
            linearly to final_learning_rate and final_gamma over `epochs`).
    """
    check_one_of("optimizer", optimizer, OPTIMIZERS)
    check_number("threshold", threshold, positive=True)
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
        (is_bop_variable, lq.optimizers.Bop(threshold=threshold, gamma=phi)),
        default_optimizer=default,
    )
