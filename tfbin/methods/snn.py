"""`method="snn"`: SGD with momentum and cosine annealing, IR-Net's estimator and SNN's codebook refinement.

`ErrorDecay` sharpens the `ErrorDecaySign` estimators over the run and
`RefineCodebooks` moves each `SubBitConv2D` codebook every `refine_every`
steps (the recipe's `method_options`); the recipe's `optimizer` holds the
learning rate and the momentum.
"""
import tensorflow as tf

from tfbin.callbacks import ErrorDecay, RefineCodebooks
from tfbin.methods import Method
from tfbin.methods._cosine import cosine_decay


def _optimizer(recipe, epochs, steps_per_epoch, learning_rate):
    return tf.keras.optimizers.legacy.SGD(cosine_decay(learning_rate, epochs, steps_per_epoch),
                                          momentum=recipe.optimizer["momentum"])


def _callbacks(recipe, epochs, train_data, single_replica):
    return [ErrorDecay(), RefineCodebooks(recipe.method_options["refine_every"])]


METHOD = Method("snn", _optimizer, callbacks=_callbacks)
