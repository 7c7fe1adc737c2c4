"""The BNEW demo: four ways of training the same fully binary-weight network, and ReActNet parts with distillation.

Rows (the digits residual net of `tfbin.zoo`, same epochs, Adam with a
linearly decaying learning rate for everything that is not binary):

- `ste`: latent weights behind a sign, straight-through gradients (larq's
  classic BNN, `conv="bnn"`, Adam for every variable);
- `bmd`: binary mirror descent (`tfbin.optimizers.BMD`, `conv="relaxed"`):
  the forward pass uses tanh(beta w) with beta growing every epoch;
- `bop`: Bop flips the +-1 weights, Adam trains the rest
  (`tfbin.optimizers.bop_optimizer`, `conv="bnn"`);
- `bnew`: BNEW (`tfbin.optimizers.BNEW`, `conv="relaxed"`): binary
  activations with real weights first, then a growing proximal pull to +-1,
  frozen to sign(w) for the last epoch(s);
- `reactnet_kd`: BNEW on the ReActNet-style network (RSign, RPReLU,
  per-channel scales: `block="reactnet"`) distilled from a float network of
  the same layout trained first (`tfbin.distillation.Distiller`).

BMD and BNEW pretrain for the first quarter of the epochs, binarize, and
freeze for the last tenth; STE and Bop binarize from the first step. Every
trained model converts with LCE to binary convolutions throughout.

```python
from tfbin.demo import bnew
bnew.phases(12)   # BNEW's and BMD's binarize phase of a 12-epoch run
```
"""
import collections

import tensorflow as tf

from tfbin import optimizers, training
from tfbin.distillation import Distiller
from tfbin.validation import check_one_of
from tfbin.zoo import digits_resnet

__all__ = [
    "BETA_END", "FINAL_FRACTION", "LEARNING_RATE", "PUSH", "ROWS", "adam", "bmd", "bnew", "bop", "conv_of",
    "optimizer", "phases", "train_row",
]

# The Adam-only rows (ste, bmd, bnew) keep the BNEW paper's setting on purpose: Adam at
# 0.01, decaying linearly to 1% of it over the run. The bop row takes the
# library's Bop + Adam defaults (`tfbin.optimizers.BOP_DEFAULTS`), as `train` does.
LEARNING_RATE = 1e-2
FINAL_FRACTION = 0.01
# BNEW's pull over the binarize phase, lambda0 * steps_per_epoch * epochs: the
# BNEW paper's CIFAR-10 setting (lambda0 1e-4, ~390 steps per epoch, 1000 epochs).
PUSH = 40.0
# BMD's beta at the end of the binarize phase (the BNEW code's 1.01 ** 980 is ~1.7e4).
BETA_END = 1e4


def phases(epochs):
    """BNEW's and BMD's binarize phase: pretrain the first ~quarter, freeze the last ~tenth of the run."""
    start = int(round(0.25 * epochs))
    end = max(start, epochs - max(1, int(round(0.1 * epochs))))
    return {"start_epoch": start, "end_epoch": end, "label": "BNEW / BMD binarize"}


def _learning_rate(steps_per_epoch, epochs, learning_rate):
    return optimizers.schedule(learning_rate, "linear", steps_per_epoch, epochs,
                               final=learning_rate * FINAL_FRACTION, name="learning_rate")


def adam(steps_per_epoch, epochs, learning_rate=LEARNING_RATE):
    """STE's optimizer: legacy Adam with the demo's decaying learning rate."""
    return tf.keras.optimizers.legacy.Adam(_learning_rate(steps_per_epoch, epochs, learning_rate))


def bnew(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, push=PUSH, learning_rate=LEARNING_RATE, **kwargs):
    """`BNEW` whose lambda0 gives the pull `push` over the binarize phase."""
    lambda0 = push / (steps_per_epoch * max(epochs - binarize_epoch, 1))
    return optimizers.BNEW(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, lambda0=lambda0,
                           learning_rate=_learning_rate(steps_per_epoch, epochs, learning_rate), **kwargs)


def bmd(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, beta_end=BETA_END, learning_rate=LEARNING_RATE):
    """`BMD` whose beta grows from 1 to `beta_end` over the binarize phase."""
    growth = beta_end ** (1.0 / max(freeze_epoch - binarize_epoch, 1))
    return optimizers.BMD(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, beta0=1.0, beta_growth=growth,
                          learning_rate=_learning_rate(steps_per_epoch, epochs, learning_rate))


def bop(steps_per_epoch, epochs, learning_rate=optimizers.BOP_DEFAULTS["learning_rate"],
        gamma=optimizers.BOP_DEFAULTS["gamma"], threshold=optimizers.BOP_DEFAULTS["threshold"]):
    """Bop for the binary weights, Adam for the rest: the library's defaults, decaying over the run."""
    return optimizers.bop_optimizer(learning_rate, gamma, threshold, steps_per_epoch=steps_per_epoch,
                                    epochs=epochs)


# The rows that train one network with one optimizer: the zoo's `conv` and the
# optimizer, and whether it takes the binarize phase (BMD and BNEW relax the
# weights first; STE and Bop binarize from the first step).
_Row = collections.namedtuple("_Row", ["conv", "optimizer", "phased"])
_ROWS = {
    "ste": _Row("bnn", adam, phased=False),
    "bmd": _Row("relaxed", bmd, phased=True),
    "bop": _Row("bnn", bop, phased=False),
    "bnew": _Row("relaxed", bnew, phased=True),
}
# The demo's rows: those above, then ReActNet parts distilled from a float network.
ROWS = (*_ROWS, "reactnet_kd")


def conv_of(method):
    """The convolution kind the demo trains "ste", "bop", "bmd" or "bnew" on."""
    return _ROWS[check_one_of("method", method, tuple(_ROWS))].conv


def optimizer(method, steps_per_epoch, epochs, binarize_epoch=0, freeze_epoch=None, **kwargs):
    """The demo's optimizer for "ste", "bop", "bmd" or "bnew" (the binarize phase for the last two)."""
    row = _ROWS[check_one_of("method", method, tuple(_ROWS))]
    if not row.phased:
        return row.optimizer(steps_per_epoch, epochs, **kwargs)
    freeze_epoch = max(epochs - 1, binarize_epoch) if freeze_epoch is None else freeze_epoch
    return row.optimizer(steps_per_epoch, epochs, binarize_epoch, freeze_epoch, **kwargs)


def train_row(name, dataset, epochs, width, verbose):
    steps = training.steps_per_epoch(dataset)
    phase = phases(epochs)
    split = dict(binarize_epoch=phase["start_epoch"], freeze_epoch=phase["end_epoch"])
    if name in _ROWS:
        model = digits_resnet(dataset.input_shape, dataset.num_classes, width=width, conv=_ROWS[name].conv)
        history = training.train(model, dataset, epochs, optimizer=optimizer(name, steps, epochs, **split),
                                 verbose=verbose)
        return model, history.history
    teacher = digits_resnet(dataset.input_shape, dataset.num_classes, width=width, conv="float", block="reactnet")
    training.train(teacher, dataset, epochs, optimizer=adam(steps, epochs), verbose=verbose)
    student = digits_resnet(dataset.input_shape, dataset.num_classes, width=width, conv="relaxed", block="reactnet")
    history = training.train(Distiller(student, teacher), dataset, epochs,
                             optimizer=optimizer("bnew", steps, epochs, **split), verbose=verbose)
    # Compiled for evaluation on its own (the Distiller was what trained).
    student.compile(loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return student, history.history
