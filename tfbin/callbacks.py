"""Keras callbacks: PaBT pruning of binary convolutions and STQ-A filter pruning during `model.fit`.

```python
import tfbin
from tfbin import callbacks, pruning

# Warm up 2 epochs, prune every 10 steps from epoch 2 to 8, then fine-tune.
prune = callbacks.PruneToBinary(schedule=pruning.PolynomialSchedule(2, 8), frequency="step", update_every=10)
```
"""
import numpy as np
import tensorflow as tf

from tfbin import cost, pruning, stq
from tfbin.layers import MultiBaseConv2D
from tfbin.registry import register
from tfbin.validation import check_fraction, check_int, check_one_of

__all__ = ["PruneFilters", "PruneToBinary"]

FREQUENCIES = ("epoch", "step")


@register
class PruneToBinary(tf.keras.callbacks.Callback):
    """Prunes whole binary convolutions of every `MultiBaseConv2D` until each has one.

    Training runs in three phases (PaBT): warm-up before `start_epoch` with all
    M x N convolutions, pruning from `start_epoch` to `end_epoch` following the
    schedule, fine-tuning of the resulting 1-bit network after `end_epoch`.
    At each pruning event the least important live convolutions of a layer are
    masked; Taylor importance |c * dL/dc| accumulates in the layer between events.

    The masks and importance scores are layer weights, so `ModelCheckpoint` and
    `BackupAndRestore` save them; the schedule depends only on the epoch and
    step, so a resumed run prunes like an uninterrupted one.

    Every epoch it adds to the Keras logs (place it before CSVLogger or
    TensorBoard in the callback list): `pabt_bit_ops`, `pabt_weight_bits` and
    `pabt_activation_bits` (mean live bases per layer), `pabt_live_convolutions`
    and `pabt_live/<layer>`.

    Arguments:
        start_epoch: first epoch of the pruning phase (0-based).
        end_epoch: epoch from which every layer has one live convolution.
        schedule: a `tfbin.pruning.PruningSchedule` (which then holds the
            epochs: leave start_epoch and end_epoch out), or "linear" or
            "polynomial" as shortcuts for those schedules over start_epoch
            to end_epoch.
        power: exponent of the "polynomial" shortcut.
        frequency: "epoch" (prune at the start of epochs) or "step" (every
            `update_every` steps).
        update_every: steps between pruning events when `frequency="step"`.
        importance: "taylor" (default), "magnitude" or "random" (ablations).
        seed: seed of the "random" importance.
        verbose: 1 prints each pruning event.

    ```python
    import tfbin
    from tfbin import callbacks, data, optimizers, pruning, zoo

    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    model.compile(optimizers.bop_optimizer(), "sparse_categorical_crossentropy")
    prune = callbacks.PruneToBinary(start_epoch=1, end_epoch=2)
    model.fit(digits.x_train[:256], digits.y_train[:256], epochs=3, callbacks=[prune], verbose=0)
    assert [len(layer.live_pairs()) for layer in prune.layers] == [1, 1, 1, 1]
    bnn = pruning.strip_pruning(model)    # plain larq QuantConv2D layers, ready to convert
    ```
    """

    def __init__(self, start_epoch=None, end_epoch=None, schedule="linear", power=3, frequency="epoch",
                 update_every=100, importance="taylor", seed=0, verbose=0):
        super().__init__()
        schedule_kwargs = {"power": power} if isinstance(schedule, str) else {}
        self.schedule = pruning.get_schedule(schedule, start_epoch, end_epoch, **schedule_kwargs)
        self.frequency = check_one_of("frequency", frequency, FREQUENCIES)
        self.update_every = check_int("update_every", update_every, minimum=1)
        self.importance = check_one_of("importance", importance, pruning.IMPORTANCE_KINDS)
        self.seed, self.verbose = seed, verbose
        self._layers = []
        self._epoch = 0

    @property
    def start_epoch(self):
        return self.schedule.start_epoch

    @property
    def end_epoch(self):
        return self.schedule.end_epoch

    def get_config(self):
        return {
            "schedule": tf.keras.utils.serialize_keras_object(self.schedule),
            "frequency": self.frequency,
            "update_every": self.update_every,
            "importance": self.importance,
            "seed": self.seed,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = tf.keras.utils.deserialize_keras_object(config["schedule"])
        return cls(**config)

    @property
    def layers(self):
        """The `MultiBaseConv2D` layers being pruned."""
        return list(self._layers)

    def on_train_begin(self, logs=None):
        self._layers = [m for m in self.model.submodules if isinstance(m, MultiBaseConv2D)]
        if not self._layers:
            raise ValueError(
                f"PruneToBinary: model {self.model.name!r} has no MultiBaseConv2D layer to prune"
            )
        if self.frequency == "step" and not self.params.get("steps"):
            raise ValueError(
                "PruneToBinary: frequency='step' needs the number of steps per epoch; "
                "pass steps_per_epoch to fit (the dataset's size is unknown)"
            )
        epochs = self.params.get("epochs")
        if epochs is not None and self.end_epoch > epochs:
            raise ValueError(
                f"PruneToBinary: end_epoch ({self.end_epoch}) is beyond the planned epochs ({epochs})"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.frequency == "epoch":
            self._prune(time=float(epoch), event=epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.frequency == "step" and batch % self.update_every == 0:
            steps = self.params["steps"]
            self._prune(time=self._epoch + batch / steps, event=self._epoch * steps + batch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        model_cost = cost.model_cost(self.model)
        mbn_costs = [c for c in model_cost.layers if c.kind == "mbn"]
        logs["pabt_bit_ops"] = float(model_cost.bit_ops)
        logs["pabt_weight_bits"] = float(np.mean([c.weight_bits for c in mbn_costs]))
        logs["pabt_activation_bits"] = float(np.mean([c.activation_bits for c in mbn_costs]))
        logs["pabt_live_convolutions"] = float(sum(c.live_convolutions for c in mbn_costs))
        for c in mbn_costs:
            logs[f"pabt_live/{c.name}"] = float(c.live_convolutions)

    def on_train_end(self, logs=None):
        # With end_epoch equal to the planned epochs there is no epoch at which
        # the last pruning step would run: finish it here.
        if self._epoch + 1 >= self.end_epoch:
            self._prune(time=float(self.end_epoch), event=self.end_epoch)

    def _prune(self, time, event):
        for index, layer in enumerate(self._layers):
            target = self.schedule.live_count(layer.weight_bases * layer.activation_bases, time)
            if target >= len(layer.live_pairs()):
                continue
            scores = pruning.importance_scores(layer, self.importance, self.seed, event, index)
            pruned = pruning.prune_to(layer, target, scores)
            if pruned:
                # Taylor importance is accumulated between this layer's pruning events.
                layer.importance.assign(tf.zeros_like(layer.importance))
                if self.verbose:
                    print(f"PruneToBinary: {layer.name}: pruned {pruned}, {target} live "
                          f"convolution(s) (epoch {time:.2f})")


@register
class PruneFilters(tf.keras.callbacks.Callback):
    """STQ-A: at the start of `epoch`, prunes filters to `target_pfr` by one global |gamma| threshold.

    Train with the L1 penalty on the BatchNorm scales (`tfbin.stq.add_gamma_l1`)
    up to `epoch`; the callback then masks the filters with the smallest
    |gamma| (`tfbin.stq.prune_filters`) and the remaining epochs fine-tune
    the structured ternary network. The masks are weights of the
    `MaskedQuantConv2D` layers, so `ModelCheckpoint` and `BackupAndRestore`
    keep them; pruning is a function of the weights at `epoch`, so a run
    resumed at any epoch ends like an uninterrupted one.

    Every epoch it adds `stq_pfr` (pruned 2D filters / all of the binary
    layers) and `stq_bit_ops` to the Keras logs (place it before CSVLogger or
    TensorBoard in the callback list).

    Arguments:
        target_pfr: in [0, 1).
        epoch: the (0-based) epoch at whose start it prunes.
        layers, channel_multiple, max_layer_fraction: as for `tfbin.stq.prune_filters`.
        verbose: 1 prints the threshold and the PFR reached.

    ```python
    import tfbin
    from tfbin import callbacks, data, stq, training, zoo

    digits = data.digits_arrays()
    model = stq.with_masks(zoo.digits_resnet(width=8, block="basic"))
    stq.add_gamma_l1(model, 1e-4)
    prune = callbacks.PruneFilters(target_pfr=0.5, epoch=1)
    history = training.train(model, digits, epochs=2, callbacks=[prune], verbose=0)
    history.history["stq_pfr"]       # [0.0, ~0.5]
    ```
    """

    def __init__(self, target_pfr, epoch, layers=None, channel_multiple=1, max_layer_fraction=0.9, verbose=0):
        super().__init__()
        self.target_pfr = check_fraction("target_pfr", target_pfr)
        self.epoch = check_int("epoch", epoch, minimum=0)
        self.layers = None if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        self.channel_multiple = check_int("channel_multiple", channel_multiple, minimum=1)
        self.max_layer_fraction = check_fraction("max_layer_fraction", max_layer_fraction)
        self.verbose = verbose
        self.result = None

    def get_config(self):
        return {
            "target_pfr": self.target_pfr,
            "epoch": self.epoch,
            "layers": self.layers,
            "channel_multiple": self.channel_multiple,
            "max_layer_fraction": self.max_layer_fraction,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def on_train_begin(self, logs=None):
        if not stq.masked_layers(self.model):
            raise ValueError(
                f"PruneFilters: model {self.model.name!r} has no MaskedQuantConv2D layer to prune; "
                "give it masks with tfbin.stq.with_masks"
            )
        epochs = self.params.get("epochs")
        if epochs is not None and self.epoch >= epochs:
            raise ValueError(f"PruneFilters: epoch ({self.epoch}) is beyond the planned epochs ({epochs})")

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self.epoch:
            return
        self.result = stq.prune_filters(self.model, self.target_pfr, self.layers, self.channel_multiple,
                                        self.max_layer_fraction)
        if self.verbose:
            print(f"PruneFilters: |gamma| <= {self.result.threshold:.4g} pruned; PFR {self.result.pfr:.4f} "
                  f"(epoch {epoch})")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        model_cost = cost.model_cost(self.model)
        logs["stq_pfr"] = float(model_cost.pfr or 0.0)
        logs["stq_bit_ops"] = float(model_cost.bit_ops)
