"""`method="bnew"`: `tfbin.optimizers.BNEW`, Adam with a proximal pull of the relaxed weights to +-1.

The recipe's `optimizer` holds the learning rate, its linear decay to
`final_fraction`, the phase split (`binarize_fraction`, `freeze_fraction`)
and the pull (`push`: lambda0 x steps of the binarize phase). No callbacks:
the optimizer binarizes and freezes on its own schedule.
"""
from tfbin import optimizers
from tfbin.methods import Method


def _optimizer(recipe, epochs, steps_per_epoch, learning_rate):
    options = recipe.optimizer
    binarize = int(round(options["binarize_fraction"] * epochs))
    freeze = max(binarize, min(epochs - 1, int(round(options["freeze_fraction"] * epochs))))
    # lambda0 keeps the source's pull toward +-1 (lambda0 x steps over the
    # binarize phase) in a run of any length and batch size.
    lambda0 = options["push"] / (steps_per_epoch * max(epochs - binarize, 1))
    schedule = optimizers.schedule(learning_rate, "linear", steps_per_epoch, epochs,
                                   final=learning_rate * options["final_fraction"], name="learning_rate")
    return optimizers.BNEW(steps_per_epoch, epochs, binarize, freeze, lambda0=lambda0, learning_rate=schedule)


METHOD = Method("bnew", _optimizer)
