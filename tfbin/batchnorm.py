"""Re-estimating BatchNorm moving statistics for the network that is actually evaluated.

A BatchNormalization layer normalises with batch statistics during training
and with its moving averages at inference. In a binary network the two drift
apart: every Bop flip, every pruned binary convolution and every weight copied
from a float network changes the distribution the next BatchNorm sees, and a
moving average over the last steps of a changing network describes none of
them. A sign after a wrongly centred BatchNorm flips whole feature maps, so
the model evaluated with moving statistics can be far worse than the same
model with batch statistics (0.20 against 0.81 was measured on a pruned net).

`reestimate_statistics` freezes the network, runs it in training mode on a few
batches of training data and sets every BatchNorm's moving mean and variance
to the average of its batch statistics over those batches (the same rule as
stochastic weight averaging's BatchNorm update). Nothing else changes.
`ReestimateStatistics` is the Keras callback that does it at the end of
training (and, optionally, at the end of every epoch, before validation).
`tfbin.callbacks.PruneToBinary` does it after pruning and at the end of
training when it is given `statistics_data`.

```python
import tfbin
from tfbin import batchnorm, data, training, zoo

digits = data.digits_arrays()
model = zoo.digits_resnet(width=8, conv="mbn")
training.train(model, digits, epochs=1, verbose=0)
batchnorm.reestimate_statistics(model, digits.x_train, batches=4)
model.evaluate(digits.x_test, digits.y_test, verbose=0)   # with the re-estimated statistics
```
"""
import numpy as np
import tensorflow as tf

from tfbin.registry import register
from tfbin.validation import check_int, check_one_of

__all__ = ["ReestimateStatistics", "batch_norm_layers", "input_batches", "reestimate_statistics"]

WHEN = ("end", "epoch")


def batch_norm_layers(model):
    """The BatchNormalization layers of `model` (nested ones included) whose statistics may change.

    A BatchNormalization with `trainable=False` is frozen in Keras (it runs in
    inference mode even in training) and is left alone.
    """
    return [
        layer
        for layer in model.submodules
        if isinstance(layer, tf.keras.layers.BatchNormalization) and layer.trainable
    ]


def _inputs_only(element):
    # (x, y) or (x, y, sample_weight) as Keras takes them; x may itself be a tuple or dict.
    if isinstance(element, tuple) and len(element) in (2, 3):
        return element[0]
    return element


def input_batches(data, batches, batch_size=256, seed=0):
    """Up to `batches` input batches from `data`, the way `reestimate_statistics` reads it.

    `data` is an array of inputs, an `(x, y)` tuple, a `tfbin.data.Arrays` or
    `tfbin.data.Dataset` (their training split), or a batched `tf.data.Dataset`
    of inputs or `(x, y[, weight])` tuples. Arrays are shuffled with `seed`
    (data sorted by class would give biased statistics) and cut into batches
    of `batch_size`; a dataset gives its own first `batches` batches.
    """
    check_int("batches", batches, minimum=1)
    check_int("batch_size", batch_size, minimum=2)
    from tfbin.data import Arrays, Dataset  # here: tfbin.data loads TFDS, which `import tfbin` does not need

    if isinstance(data, Arrays):
        data = data.x_train
    elif isinstance(data, Dataset):
        data = data.train
    if isinstance(data, tf.data.Dataset):
        return [_inputs_only(element) for element in data.take(batches)]
    x = _inputs_only(data) if isinstance(data, tuple) else data
    if isinstance(x, (list, tuple, dict)) or not hasattr(x, "shape") or len(x.shape) < 1:
        raise ValueError(
            "data must be an array of inputs, an (x, y) tuple, a tfbin.data.Arrays or Dataset, or a batched "
            f"tf.data.Dataset; got {type(data).__name__}"
        )
    x = np.asarray(x)
    if len(x) < 2:
        raise ValueError(f"data must hold at least 2 examples to estimate statistics, got {len(x)}")
    order = np.random.default_rng(seed).permutation(len(x))[: batches * batch_size]
    return [x[order[i: i + batch_size]] for i in range(0, len(order), batch_size)][:batches]


def _spec_of_every(batches):
    """The `tf.TensorSpec` structure that every batch matches: the batch size, and any size that varies, left open."""
    def spec(*tensors):
        shape = tf.TensorShape(tensors[0].shape)
        for tensor in tensors[1:]:
            shape = shape.most_specific_compatible_shape(tf.TensorShape(tensor.shape))
        return tf.TensorSpec([None, *shape[1:]], tf.as_dtype(tensors[0].dtype))

    return tf.nest.map_structure(spec, *batches)


def reestimate_statistics(model, data, batches=8, batch_size=256, seed=0):
    """Sets the moving statistics of every BatchNorm of `model` from training-mode batches of `data`.

    Runs `model` in training mode (each BatchNorm normalises with its batch's
    statistics) on up to `batches` batches, with the weights frozen, and sets
    each BatchNorm's moving mean and variance to the average of its batch
    means and variances. `data` is read by `input_batches` (training data:
    never the data you evaluate on). Returns the number of BatchNorm layers
    updated; a model without any is left as it is.

    ```python
    import numpy as np
    import tfbin
    import tensorflow as tf
    from tfbin import batchnorm

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.BatchNormalization()])
    x = np.random.default_rng(0).normal(5.0, 2.0, (512, 4)).astype("float32")
    batchnorm.reestimate_statistics(model, x, batches=2)
    model.layers[0].moving_mean.numpy()        # about 5 (was 0)
    ```
    """
    layers = batch_norm_layers(model)
    inputs = input_batches(data, batches, batch_size, seed)
    if not layers or not inputs:
        return 0
    momenta = [layer.momentum for layer in layers]
    saved = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
    sums = [[np.zeros_like(mean, np.float64), np.zeros_like(variance, np.float64)] for mean, variance in saved]
    try:
        # Momentum 0: after a training-mode call the moving statistics are that
        # batch's statistics. The function is traced here, with momentum 0, and
        # never reused, so no other traced function sees the change. It is
        # traced once, for any batch size: a shorter last batch would trace it
        # again, and TensorFlow warns of retracing when a run re-estimates often.
        for layer in layers:
            layer.momentum = 0.0
        forward = tf.function(lambda x: model(x, training=True), autograph=False)
        forward = forward.get_concrete_function(_spec_of_every(inputs))
        for x in inputs:
            forward(x)
            for total, layer in zip(sums, layers):
                total[0] += layer.moving_mean.numpy()
                total[1] += layer.moving_variance.numpy()
    except BaseException:
        for layer, (mean, variance) in zip(layers, saved):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    for layer, (mean, variance) in zip(layers, sums):
        layer.moving_mean.assign((mean / len(inputs)).astype(np.float32))
        layer.moving_variance.assign((variance / len(inputs)).astype(np.float32))
    return len(layers)


@register
class ReestimateStatistics(tf.keras.callbacks.Callback):
    """Re-estimates BatchNorm moving statistics on training data during `fit`.

    Arguments:
        data: training inputs, read by `input_batches` (an array, `(x, y)`,
            `tfbin.data.Arrays`/`Dataset` or a batched `tf.data.Dataset`).
            Not serialized: `get_config` leaves it out and `from_config` needs
            it again.
        batches: as for `reestimate_statistics`.
        batch_size: as for `reestimate_statistics`.
        seed: as for `reestimate_statistics`.
        when: "end" (at the end of training) or "epoch" (at the end of every
            epoch, after its last training step and before validation, so that
            validation accuracy is measured with statistics of the network
            being validated; at the end of training only if a step came after
            that, so the model keeps the statistics it was last validated with).

    ```python
    import tfbin
    from tfbin import batchnorm, data, training, zoo

    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=8, conv="mbn")
    fix = batchnorm.ReestimateStatistics(digits.x_train, batches=2, when="epoch")
    training.train(model, digits, epochs=1, callbacks=[fix], verbose=0)
    ```
    """

    def __init__(self, data, batches=8, batch_size=256, seed=0, when="end"):
        super().__init__()
        self.data = data
        self.batches = check_int("batches", batches, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=2)
        self.seed = check_int("seed", seed)
        self.when = check_one_of("when", when, WHEN)
        self._current = False  # whether the statistics were estimated for the weights as they are

    def get_config(self):
        return {"batches": self.batches, "batch_size": self.batch_size, "seed": self.seed, "when": self.when}

    @classmethod
    def from_config(cls, config, data=None):
        if data is None:
            raise ValueError("ReestimateStatistics.from_config needs data=: training data is not serialized")
        return cls(data, **config)

    def reestimate(self):
        """Re-estimates the model's statistics now."""
        return reestimate_statistics(self.model, self.data, self.batches, self.batch_size, self.seed)

    def on_train_begin(self, logs=None):
        self._current = False

    def on_train_batch_end(self, batch, logs=None):
        self._current = False  # the step changed the weights
        steps = self.params.get("steps") if self.params else None
        if self.when == "epoch" and steps and batch == steps - 1:
            self.reestimate()
            self._current = True

    def on_train_end(self, logs=None):
        # After the last epoch's re-estimation nothing has changed the network. Estimating again, on
        # other batches of a reshuffling pipeline, would leave the model with other statistics than
        # the ones its last validation was measured with.
        if not self._current:
            self.reestimate()
