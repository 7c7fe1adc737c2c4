"""Callbacks and data for the `model.fit` tests: interrupting a run, watching BatchNorm statistics."""
import tensorflow as tf

from tfbin import batchnorm


class Interrupt(Exception):
    """Raised by `StopAfter`: the run stops as a killed process would, after its epoch's backup."""


class StopAfter(tf.keras.callbacks.Callback):
    """Raises `Interrupt` at the end of `epoch` (place it after BackupAndRestore)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt()


class VariancesAtEpochEnd(tf.keras.callbacks.Callback):
    """The BatchNorm moving variances at the last epoch's end: after its re-estimation, as validation saw them."""

    def on_epoch_end(self, epoch, logs=None):
        self.variances = [layer.moving_variance.numpy().copy() for layer in batchnorm.batch_norm_layers(self.model)]


def reshuffling_pipeline(x, batch_size=64):
    """Training inputs whose every pass, and so every re-estimation of statistics, reads other batches."""
    examples = tf.data.Dataset.from_tensor_slices(x)
    return examples.shuffle(len(x), seed=0, reshuffle_each_iteration=True).batch(batch_size)
