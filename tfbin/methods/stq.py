"""`method="stq"`: STQ-A, masks on a BNN's binary convolutions, L1 on their BatchNorm scales, one pruning.

Adam with cosine annealing trains the latent weights (straight-through
estimator); `PruneFilters` prunes the 2D filters of the smallest scales to
the target PFR once, at `prune_fraction` of the run. The recipe's
`method_options` hold `l1`, `target_pfr` and `prune_fraction`.
"""
import tensorflow as tf

from tfbin import stq
from tfbin.callbacks import PruneFilters
from tfbin.methods import Method
from tfbin.methods._cosine import cosine_decay


def _optimizer(recipe, epochs, steps_per_epoch, learning_rate):
    return tf.keras.optimizers.legacy.Adam(cosine_decay(learning_rate, epochs, steps_per_epoch))


def _callbacks(recipe, epochs, train_data, single_replica):
    options = recipe.method_options
    return [PruneFilters(options["target_pfr"], min(epochs - 1, int(round(options["prune_fraction"] * epochs))))]


def _prepare_model(recipe, model):
    model = stq.with_masks(model)
    stq.add_gamma_l1(model, recipe.method_options["l1"])
    return model


METHOD = Method("stq", _optimizer, callbacks=_callbacks, prepare_model=_prepare_model)
