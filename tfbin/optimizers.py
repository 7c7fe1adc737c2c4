"""Optimizers for binary weights: Bop, BNEW's proximal steps and binary mirror descent (BMD).

Bop (`bop_optimizer`) keeps a gradient average m <- m + gamma (g - m) per
binary weight and flips the weight when w * m > threshold (gamma is the
"adaptivity rate" phi and threshold the tau of PaBT). Everything that is not
binary (BatchNorm, scales, thresholds, float layers) is trained by Adam or
AMSGrad with learning rate eta. Schedules follow PaBT: step decay x0.1 every
K epochs, or linear decay from an initial to a final value.

The defaults (`BOP_DEFAULTS`: eta 1e-2, gamma 1e-3, threshold 1e-7, eta and
gamma decaying linearly to 1% over the run) are the settings that held on
digits across image sizes, widths and run lengths
(benchmarks/results/train_defaults.md). They decay whenever the optimizer
knows the length of the run:

```python
import tfbin
opt = tfbin.optimizers.bop_optimizer(steps_per_epoch=20, epochs=12)   # decays over 240 steps
# model.compile(opt, ...)
```

`BNEW` and `BMD` (from "Training Fully Binary Neural Networks the Easy Way"
(BNEW), BMVC 2022) train the weights of a binary layer as real numbers that
computes with them as they are (larq's
`lq.quantizers.NoOp(precision=1)` kernel quantizer: `tfbin.zoo` builds such
layers with `conv="relaxed"`) and drive them to +-1 over training, in three
phases counted in epochs:

- pretrain, epochs [0, binarize_epoch): binary activations, real weights
  clipped to [-1, 1] after every step;
- binarize, [binarize_epoch, freeze_epoch): BNEW applies a proximal step
  toward {-1, +1} with a strength lambda that grows every epoch; BMD computes
  the forward pass with tanh(beta w) and beta growing every epoch;
- frozen, from freeze_epoch: the weights are sign(w) and no longer change
  (the rest of the network trains on, so BatchNorm statistics settle on the
  final binary weights).

Why optimizers, and why Adam subclasses. Both methods change the binary
weights at a fixed point of every training step (BNEW's proximal step right
after, or in the BNEW code's CIFAR script right before, the gradient update; BMD
swaps the dual weights in before the update and the primal tanh(beta w) out
after it), so they belong inside the step, where Keras updates each variable
(`_resource_apply_dense`); a callback runs between steps, outside the
compiled training function, and cannot put anything between the gradient and
the update. The BNEW paper trains every variable with one Adam, so they are Adam
with one more step for the 1-bit variables rather than wrappers of an
arbitrary optimizer: all their state is the optimizer's own weights (Adam's
moments, BMD's dual weights, the update count that gives the epoch), so
checkpoints and `BackupAndRestore` resume a run exactly, the phase follows
from the step count alone, and `get_config` is one flat dict. Learning-rate
schedules, AMSGrad and gradient clipping are Adam's.

```python
import tfbin
import tensorflow as tf
from tfbin import data, optimizers, zoo

digits = data.digits_arrays()
model = zoo.digits_resnet(width=8, conv="relaxed")
bnew = optimizers.BNEW(steps_per_epoch=4, epochs=3, binarize_epoch=1, freeze_epoch=2, lambda0=0.5,
                       learning_rate=1e-2)
model.compile(bnew, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(digits.x_train[:256], digits.y_train[:256], batch_size=64, epochs=3, verbose=0)
kernel = model.get_layer("stage1_block1_conv").kernel.numpy()
assert set(abs(kernel.ravel())) == {1.0}      # frozen to sign(w): the layer converts to an LceBconv2d
```
"""
import functools
import numbers

import larq as lq
import tensorflow as tf

from tfbin.choices import BOP_DEFAULTS, OPTIMIZERS, SCHEDULES
from tfbin.registry import register
from tfbin.validation import check_int, check_number, check_one_of

__all__ = [
    "BMD",
    "BNEW",
    "BOP_DEFAULTS",
    "OPTIMIZERS",
    "PHASES",
    "PROX_ORDERS",
    "REGULARIZERS",
    "SCHEDULES",
    "bop_optimizer",
    "is_bop_variable",
    "schedule",
]

# The phases of BNEW and BMD, in order.
PHASES = ("pretrain", "binarize", "frozen")
# BNEW's proximal operators toward {-1, +1}: the paper's concave regulariser
# and the l1 and l2 ProxQuant variants.
REGULARIZERS = ("bnew", "l1", "l2")
# Where BNEW's proximal step goes: after the gradient update (the paper's
# update and its ImageNet script) or before it (its CIFAR script).
PROX_ORDERS = ("after", "before")


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
    learning_rate=BOP_DEFAULTS["learning_rate"],
    gamma=BOP_DEFAULTS["gamma"],
    threshold=BOP_DEFAULTS["threshold"],
    optimizer="adam",
    schedule_kind=None,
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
            None: "linear" when `steps_per_epoch` and `epochs` give the
            length of the run, else "constant".
        final_learning_rate: the end of eta's linear decay; None:
            `BOP_DEFAULTS["final_fraction"]` of `learning_rate`.
        final_gamma: the end of gamma's linear decay; None:
            `BOP_DEFAULTS["final_fraction"]` of `gamma`.
    """
    if schedule_kind is None:
        schedule_kind = "constant" if steps_per_epoch is None or epochs is None else "linear"
    if schedule_kind == "linear":
        fraction = BOP_DEFAULTS["final_fraction"]
        if final_learning_rate is None:
            final_learning_rate = check_number("learning_rate", learning_rate, positive=True) * fraction
        if final_gamma is None:
            final_gamma = check_number("gamma", gamma, positive=True) * fraction
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


def _clip(w):
    return tf.clip_by_value(w, -1.0, 1.0)


class _BinarizingAdam(tf.keras.optimizers.legacy.Adam):
    """Adam for every variable plus a method's own step for the 1-bit ones, in three phases.

    A variable is 1-bit when it reports `precision == 1`, as larq's quantized
    kernels do (the test `lq.optimizers.Bop.is_binary_variable` uses).
    Subclasses give `_coefficients` (what the step needs at an epoch, as
    tensors) and `_binary_update` (the step around Adam's update).
    """

    def __init__(self, steps_per_epoch, epochs, binarize_epoch=0, freeze_epoch=None, learning_rate=1e-3,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.binarize_epoch = check_int("binarize_epoch", binarize_epoch, minimum=0)
        if freeze_epoch is None:
            freeze_epoch = max(self.epochs - 1, self.binarize_epoch)
        self.freeze_epoch = check_int("freeze_epoch", freeze_epoch, minimum=0)
        if not self.binarize_epoch <= self.freeze_epoch <= self.epochs:
            raise ValueError(
                f"{type(self).__name__}: phase boundaries out of order: need 0 <= binarize_epoch <= freeze_epoch <= epochs, "
                f"got binarize_epoch={binarize_epoch}, freeze_epoch={freeze_epoch}, epochs={epochs}"
            )
        self._binary_slots = set()

    def phase(self, epoch):
        """The phase of (0-based) `epoch`: "pretrain", "binarize" or "frozen"."""
        if epoch >= self.freeze_epoch:
            return "frozen"
        return "pretrain" if epoch < self.binarize_epoch else "binarize"

    def _create_slots(self, var_list):
        super()._create_slots(var_list)
        binary = [var for var in var_list if lq.optimizers.Bop.is_binary_variable(var)]
        if not binary:
            raise ValueError(
                f"{type(self).__name__}: none of the trained variables is 1-bit; it binarizes kernels whose quantizer "
                "has precision 1, such as lq.quantizers.NoOp(precision=1) (tfbin.zoo's conv='relaxed')"
            )
        for var in binary:
            # Under a distribution strategy the update sees each replica's
            # plain component of the variable; its Adam slot is shared, so
            # the slot tells the 1-bit variables apart.
            self._binary_slots.add(self.get_slot(var, "m").ref())
            self._create_binary_slots(var)

    def _create_binary_slots(self, var):
        pass

    def _is_binary(self, var):
        return self.get_slot(var, "m").ref() in self._binary_slots

    def _prepare_local(self, var_device, var_dtype, apply_state):
        super()._prepare_local(var_device, var_dtype, apply_state)
        # The update count before this step's increment: step t of epoch t // steps_per_epoch.
        epoch = self.iterations // self.steps_per_epoch
        coefficients = apply_state[(var_device, var_dtype)]
        coefficients["pretrain"] = epoch < self.binarize_epoch
        coefficients["frozen"] = epoch >= self.freeze_epoch
        coefficients.update(self._coefficients(tf.cast(epoch, var_dtype)))

    def _coefficients(self, epoch):
        return {}

    def _apply_state(self, var, apply_state):
        key = (var.device, var.dtype.base_dtype)
        if not apply_state or key not in apply_state:
            apply_state = {key: {}}
            self._prepare_local(*key, apply_state)
        return apply_state, apply_state[key]

    def _resource_apply_dense(self, grad, var, apply_state=None):
        if not self._is_binary(var):
            return super()._resource_apply_dense(grad, var, apply_state)
        apply_state, coefficients = self._apply_state(var, apply_state)
        update = functools.partial(super()._resource_apply_dense, grad, var, apply_state)
        return self._binary_update(var, update, coefficients)

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        if not self._is_binary(var):
            return super()._resource_apply_sparse(grad, var, indices, apply_state)
        apply_state, coefficients = self._apply_state(var, apply_state)
        update = functools.partial(super()._resource_apply_sparse, grad, var, indices, apply_state)
        return self._binary_update(var, update, coefficients)

    def _binary_update(self, var, update, coefficients):
        raise NotImplementedError

    def get_config(self):
        return {
            **super().get_config(),
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "binarize_epoch": self.binarize_epoch,
            "freeze_epoch": self.freeze_epoch,
        }


@register
class BNEW(_BinarizingAdam):
    """BNEW: Adam, and a proximal step toward {-1, +1} for the 1-bit weights after every update.

    In the binarize phase (see the module docstring) every step applies, with
    lambda = lambda_e of the current epoch e,

    - "bnew" (the paper's concave regulariser): w <- clip(w + 2 lambda w, -1, 1);
    - "l1" (ProxQuant, ||w - sign(w)||_1): w <- clip(w + lambda sign(w), -1, 1);
    - "l2" (ProxQuant, ||w - sign(w)||^2 / 2): w <- clip((w + lambda sign(w)) / (1 + lambda), -1, 1);

    lambda_e = min(lambda0 (e - binarize_epoch + 1) / (epochs - binarize_epoch), 1),
    which is the BNEW code's min(lambda0 (e + 1) / E, 1) counted over the
    epochs from binarize_epoch to the end of the run. Before binarize_epoch
    the step is the clip alone (lambda = 0); from freeze_epoch on the
    weights are sign(w) of the weights at the start of that epoch (sign(0)
    is +1, as in larq and LCE) and Adam no longer moves them.

    The push toward +-1 compounds over steps: over the run a weight grows
    by about exp(lambda0 steps_per_epoch (epochs - binarize_epoch)) before
    clipping. The BNEW paper's CIFAR runs (lambda0 1e-4 to 1e-3, ~390 steps per
    epoch, 1000 epochs) put that exponent at about 40 to 400; a short run
    needs a larger lambda0 for the same effect.

    Arguments:
        steps_per_epoch: training steps per epoch; the epoch is the update
            count divided by it (so a resumed run is in the right phase).
        epochs: epochs of the whole run (the E of lambda_e).
        binarize_epoch: first epoch of the binarize phase (0: no pretraining).
        freeze_epoch: first frozen epoch (default: the last epoch, `epochs - 1`).
        lambda0: the strength of the proximal step, >= 0.
        regularizer: "bnew", "l1" or "l2".
        order: "after" the gradient update (the paper's proximal gradient
            step, and its ImageNet script) or "before" it (its CIFAR script:
            the gradient taken at w is applied to the proximal point of w).
        learning_rate: Adam's (a schedule may be given).

    Keyword Arguments:
        beta_1, beta_2, epsilon, amsgrad: Adam's.
    """

    def __init__(self, steps_per_epoch, epochs, binarize_epoch=0, freeze_epoch=None, lambda0=1e-3,
                 regularizer="bnew", order="after", learning_rate=1e-3, name="BNEW", **kwargs):
        super().__init__(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, learning_rate, name, **kwargs)
        self.lambda0 = check_number("lambda0", lambda0, minimum=0)
        self.regularizer = check_one_of("regularizer", regularizer, REGULARIZERS)
        self.order = check_one_of("order", order, PROX_ORDERS)

    def lambda_at(self, epoch):
        """lambda_e of (0-based) `epoch`: 0 before binarize_epoch (frozen weights ignore it)."""
        if epoch < self.binarize_epoch:
            return 0.0
        ramp = max(self.epochs - self.binarize_epoch, 1)
        return min(self.lambda0 * (epoch - self.binarize_epoch + 1) / ramp, 1.0)

    def _coefficients(self, epoch):
        ramp = float(max(self.epochs - self.binarize_epoch, 1))
        lam = tf.minimum(self.lambda0 * (epoch - self.binarize_epoch + 1.0) / ramp, 1.0)
        return {"lambda": tf.where(epoch < self.binarize_epoch, tf.zeros_like(lam), lam)}

    def proximal_step(self, w, lam):
        """The proximal step of `regularizer` with strength `lam`; with `lam` = 0 it is the clip to [-1, 1]."""
        if self.regularizer == "bnew":
            return _clip(w + 2.0 * lam * w)
        if self.regularizer == "l1":
            return _clip(w + lam * tf.sign(w))
        return _clip((w + lam * tf.sign(w)) / (1.0 + lam))

    def _binary_update(self, var, update, coefficients):
        lam, frozen = coefficients["lambda"], coefficients["frozen"]
        start = tf.identity(var.read_value())
        before = [start]
        if self.order == "before":
            before = [var.assign(tf.where(frozen, start, self.proximal_step(start, lam)), read_value=False)]
        with tf.control_dependencies(before):
            updated = update()
        with tf.control_dependencies([updated]):
            w = var.read_value()
            if self.order == "after":
                w = self.proximal_step(w, lam)
            return var.assign(tf.where(frozen, lq.math.sign(start), w), read_value=False)

    def get_config(self):
        return {**super().get_config(), "lambda0": self.lambda0, "regularizer": self.regularizer,
                "order": self.order}


@register
class BMD(_BinarizingAdam):
    """Binary mirror descent: Adam on dual weights w, the forward pass with tanh(beta w).

    The layer's kernel holds the primal point x = tanh(beta_e w); the dual
    weights w are this optimizer's slot "dual". Each step applies Adam's
    update, computed from the gradient with respect to x, to w (mirror
    descent: no tanh' in the chain rule), then sets the kernel to
    tanh(beta_e w), with beta_e = beta0 * beta_growth ** (e - binarize_epoch)
    growing every epoch (the BNEW code grows it by 1.01 per epoch over 1000 epochs:
    a short run needs a larger beta_growth). The kernel so follows the BNEW code's
    order one step late: the first step of an epoch still computes with the
    previous epoch's beta. Before binarize_epoch the kernel is the clipped
    weights; from freeze_epoch on it is sign(w) (hard sign) and w no longer
    changes.

    Arguments:
        steps_per_epoch: as for `BNEW`.
        epochs: as for `BNEW`.
        binarize_epoch: as for `BNEW`.
        freeze_epoch: as for `BNEW`.
        beta0: the tanh scale in the first binarize epoch (> 0).
        beta_growth: its factor per epoch (>= 1).
        learning_rate: Adam's.

    Keyword Arguments:
        beta_1, beta_2, epsilon, amsgrad: Adam's.
    """

    def __init__(self, steps_per_epoch, epochs, binarize_epoch=0, freeze_epoch=None, beta0=1.0, beta_growth=1.01,
                 learning_rate=1e-3, name="BMD", **kwargs):
        super().__init__(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, learning_rate, name, **kwargs)
        self.beta0 = check_number("beta0", beta0, positive=True)
        self.beta_growth = check_number("beta_growth", beta_growth, minimum=1)

    def beta_at(self, epoch):
        """beta_e of (0-based) `epoch` (beta0 before binarize_epoch)."""
        return self.beta0 * self.beta_growth ** max(epoch - self.binarize_epoch, 0)

    def _coefficients(self, epoch):
        exponent = tf.maximum(epoch - self.binarize_epoch, 0.0)
        # Capped as in the seed: beyond it tanh(beta w) is sign(w) in float32 anyway.
        return {"beta": tf.minimum(self.beta0 * tf.pow(self.beta_growth, exponent), 1e30)}

    def _create_binary_slots(self, var):
        self.add_slot(var, "dual", initializer=lambda shape, dtype: tf.convert_to_tensor(var))

    def _binary_update(self, var, update, coefficients):
        pretrain, frozen, beta = coefficients["pretrain"], coefficients["frozen"], coefficients["beta"]
        dual = self.get_slot(var, "dual")
        start = tf.identity(dual.read_value())
        # Adam updates the dual weights: they go into the kernel's storage for the update.
        with tf.control_dependencies([var.assign(start, read_value=False)]):
            updated = update()
        with tf.control_dependencies([updated]):
            w = var.read_value()
            new_dual = tf.where(frozen, start, tf.where(pretrain, _clip(w), w))
            primal = tf.where(frozen, lq.math.sign(start), tf.where(pretrain, _clip(w), tf.tanh(beta * w)))
            return tf.group(dual.assign(new_dual, read_value=False), var.assign(primal, read_value=False))

    def get_config(self):
        return {**super().get_config(), "beta0": self.beta0, "beta_growth": self.beta_growth}
