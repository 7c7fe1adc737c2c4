"""Training a classifier the way the demos and benchmarks do, in one call.

`train` compiles a model with the optimizer it needs (Bop for the binary
weights plus Adam for the rest, or Adam alone for a model that has no weights
for Bop: float models, and IR-Net and sub-bit layers, whose latent weights are
real), fits it on a `tfbin.data.Dataset` or `tfbin.data.Arrays` with the test
split as validation data, and returns the Keras `History`. Anything it does not cover is plain
Keras: compile and fit the model yourself.

The optimizer's settings are `tfbin.optimizers.BOP_DEFAULTS`, with eta and
Bop's gamma decaying linearly over the run: a constant eta and gamma keep Bop
flipping weights up to the last step, so the accuracy a run ends with depends
on its last few steps (benchmarks/results/train_defaults.md).

By default it also re-estimates the BatchNorm moving statistics on training
batches at the end of every epoch, before validation, and at the end of
training (`tfbin.batchnorm`): a binary network evaluated with the moving
averages Keras keeps can score well below the network it trained.

```python
import tfbin
from tfbin import data, training, zoo

digits = data.digits_arrays()
model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
history = training.train(model, digits, epochs=1, verbose=0)
history.history["val_accuracy"]
```
"""
import time

import numpy as np
import tensorflow as tf

from tfbin import batchnorm, optimizers
from tfbin.data import Arrays
from tfbin.optimizers import BOP_DEFAULTS
from tfbin.validation import check_int

__all__ = ["EpochLines", "default_optimizer", "fit_arguments", "fit_progress", "steps_per_epoch", "train"]


class EpochLines(tf.keras.callbacks.Callback):
    """Prints one line at the end of every epoch: `epoch 3/12 - 4.1 s - loss: 0.4215 - accuracy: 0.8711 - ...`.

    Progress for logs and CI output: Keras's progress bar redraws itself with
    carriage returns, which a log keeps every one of, and its `verbose=2`
    still prints two lines per epoch.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        figures = "".join(f" - {name}: {_figure(value)}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}/{self.params['epochs']} - {time.monotonic() - self._started:.1f} s{figures}",
              flush=True)


def _figure(value):
    """A logged number to 4 significant digits; anything else a callback logged, as it prints."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def fit_progress(verbose):
    """`(verbose, callbacks)` for `model.fit`: 0 silent, 1 Keras's progress bar, 2 one line per epoch (`EpochLines`)."""
    return (0, [EpochLines()]) if verbose == 2 else (verbose, [])


def steps_per_epoch(dataset, batch_size=64):
    """Training steps per epoch of a `Dataset` (its batches) or of `Arrays` at `batch_size`."""
    if isinstance(dataset, Arrays):
        return int(np.ceil(len(dataset.x_train) / batch_size))
    return int(dataset.train.cardinality())


def fit_arguments(dataset, batch_size=64):
    """The `model.fit` keyword arguments for `dataset`'s training split, validated on its test split."""
    if isinstance(dataset, Arrays):
        return dict(x=dataset.x_train, y=dataset.y_train, batch_size=batch_size,
                    validation_data=(dataset.x_test, dataset.y_test))
    return dict(x=dataset.train, validation_data=dataset.test)


def default_optimizer(model, learning_rate=BOP_DEFAULTS["learning_rate"], gamma=BOP_DEFAULTS["gamma"],
                      threshold=BOP_DEFAULTS["threshold"], decay_epochs=None, steps_per_epoch=None,
                      final_fraction=BOP_DEFAULTS["final_fraction"]):
    """Bop + Adam (`tfbin.optimizers.bop_optimizer`) when `model` has binary weights, else Adam.

    The defaults are `tfbin.optimizers.BOP_DEFAULTS`. With `decay_epochs` (and
    `steps_per_epoch`), eta and Bop's gamma decay linearly to `final_fraction`
    of their initial values over that many epochs; without, they stay constant.
    """
    kind = "linear" if decay_epochs else "constant"
    final_learning_rate = learning_rate * final_fraction if decay_epochs else None
    if not any(optimizers.is_bop_variable(v) for v in model.trainable_variables):
        # Bop would have no variables, and larq's CaseOptimizer refuses that.
        eta = optimizers.schedule(learning_rate, kind, steps_per_epoch, decay_epochs, final=final_learning_rate,
                                  name="learning_rate")
        return tf.keras.optimizers.legacy.Adam(eta)
    return optimizers.bop_optimizer(
        learning_rate=learning_rate, gamma=gamma, threshold=threshold, schedule_kind=kind,
        steps_per_epoch=steps_per_epoch, epochs=decay_epochs, final_learning_rate=final_learning_rate,
        final_gamma=gamma * final_fraction if decay_epochs else None,
    )


def _with_statistics(callbacks, dataset):
    """`callbacks`, re-estimating BatchNorm statistics on `dataset`'s training split every epoch."""
    from tfbin.callbacks import PruneToBinary  # callbacks imports the cost model; only needed here

    callbacks = list(callbacks)
    pruners = [c for c in callbacks if isinstance(c, PruneToBinary)]
    for pruner in pruners:
        if pruner.statistics_data is None:
            pruner.statistics_data = dataset
    if not pruners and not any(isinstance(c, batchnorm.ReestimateStatistics) for c in callbacks):
        callbacks.append(batchnorm.ReestimateStatistics(dataset, when="epoch"))
    return callbacks


def train(model, dataset, epochs, optimizer=None, callbacks=(), decay=True, batch_size=64, verbose=1,
          reestimate_statistics=True):
    """Compiles `model` for sparse labels on logits and fits it; returns the `History`.

    Arguments:
        dataset: a `tfbin.data.Dataset` (batched pipelines) or `tfbin.data.Arrays`.
        optimizer: a Keras optimizer; by default `default_optimizer(model)`.
        decay: with the default optimizer, decay eta and Bop's gamma linearly
            to `BOP_DEFAULTS["final_fraction"]` (1%) over the run; False keeps
            them constant, and the run then ends wherever Bop's last flips
            left it.
        batch_size: for `Arrays` only (a `Dataset` is batched already).
        verbose: 0 silent, 1 Keras's progress bar, 2 one line per epoch.
        reestimate_statistics: re-estimate BatchNorm statistics on the
            training split at the end of every epoch, and at the end of
            training if the network changed after the last epoch's: a
            `tfbin.callbacks.PruneToBinary` among `callbacks` that has no
            `statistics_data` gets the training split (it then re-estimates
            itself), otherwise a `tfbin.batchnorm.ReestimateStatistics` is
            added. False leaves the statistics to Keras.
    """
    check_int("epochs", epochs, minimum=1)
    if reestimate_statistics:
        callbacks = _with_statistics(callbacks, dataset)
    if optimizer is None:
        optimizer = default_optimizer(
            model, decay_epochs=epochs if decay else None, steps_per_epoch=steps_per_epoch(dataset, batch_size)
        )
    model.compile(
        optimizer,
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    verbose, progress = fit_progress(verbose)
    return model.fit(epochs=epochs, callbacks=[*callbacks, *progress], verbose=verbose,
                     **fit_arguments(dataset, batch_size))
