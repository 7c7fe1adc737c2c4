"""Interrupting a `fit` at an epoch, to test that a run resumes as if it had not stopped."""
import tensorflow as tf


class Interrupt(Exception):
    """Raised by `StopAfter`: stands for a crash or a pre-empted job."""


class StopAfter(tf.keras.callbacks.Callback):
    """Raises `Interrupt` at the end of (0-based) `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt()
