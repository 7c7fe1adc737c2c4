"""Interrupting `model.fit` at an epoch's end, for the resume tests."""
import tensorflow as tf


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
