"""Keras callbacks: PaBT pruning, STQ-A filter pruning, and the sub-bit (SNN) / IR-Net training schedules.

```python
import tfbin
from tfbin import callbacks, pruning

# Warm up 2 epochs, prune every 10 steps from epoch 2 to 8, then fine-tune.
prune = callbacks.PruneToBinary(schedule=pruning.PolynomialSchedule(2, 8), frequency="step", update_every=10)
# Sub-bit networks: IR-Net's error decay estimator and codebook refinement every 25 steps.
snn = [callbacks.ErrorDecay(t_min=0.1, t_max=10.0), callbacks.RefineCodebooks(update_every=25)]
```
"""
import warnings

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import batchnorm, codebooks, cost, pruning, stq
from tfbin.layers import MultiBaseConv2D, SubBitConv2D
from tfbin.registry import register
from tfbin.validation import check_fraction, check_int, check_number, check_one_of

__all__ = [
    "BUDGETS",
    "DEFAULT_PHASE",
    "DEFAULT_SCHEDULE",
    "FREQUENCIES",
    "ORDERS",
    "ErrorDecay",
    "PruneFilters",
    "PruneToBinary",
    "RefineCodebooks",
    "REFINE_RULES",
]

FREQUENCIES = ("epoch", "step")
# Which live convolutions may go next: any (by importance), or whole
# activation bases (columns of the M x N mask) first, or whole weight bases first.
ORDERS = ("any", "activations_first", "weights_first")
# The schedule's live count holds for every layer, or for the sum over layers.
BUDGETS = ("layer", "global")
# The pruning phase of `PruneToBinary.for_epochs`, as fractions of the run.
DEFAULT_PHASE = (0.1, 0.4)
# Its schedule: polynomial (power 3) prunes fast while many convolutions are
# left and slowly at the end, where each removal takes a larger share of a
# layer and the network needs longer to recover (benchmarks/pabt_smoothness.py
# and pabt_digits.py).
DEFAULT_SCHEDULE = "polynomial"


def _fully_live(mask):
    return mask >= 1.0


def _candidates(mask, scores, order):
    """Flat indices that may be pruned next, given the pruning order."""
    live = _fully_live(mask)
    if order != "any":
        axis = 0 if order == "activations_first" else 1  # activation base n is column n
        groups = np.flatnonzero(live.any(axis=axis))
        if len(groups) > 1:
            # The live base whose convolutions matter least goes first, whole.
            totals = [scores[:, g][live[:, g]].sum() if axis == 0 else scores[g][live[g]].sum() for g in groups]
            chosen = groups[int(np.argmin(totals))]
            restricted = np.zeros_like(live)
            if axis == 0:
                restricted[:, chosen] = live[:, chosen]
            else:
                restricted[chosen] = live[chosen]
            live = restricted
    return np.flatnonzero(live.reshape(-1))


def _least_important(mask, scores, order):
    """The flat index of the least important candidate (ties: lowest index, stable)."""
    candidates = _candidates(mask, scores, order)
    return int(candidates[np.argsort(scores.reshape(-1)[candidates], kind="stable")[0]])


@register
class PruneToBinary(tf.keras.callbacks.Callback):
    """Prunes whole binary convolutions of every `MultiBaseConv2D` until each has one.

    Training runs in three phases (PaBT): warm-up before `start_epoch` with all
    M x N convolutions, pruning from `start_epoch` to `end_epoch` following the
    schedule, fine-tuning of the resulting 1-bit network after `end_epoch`.
    At each pruning event the least important live convolutions of a layer are
    removed; Taylor importance |c * dL/dc| accumulates in the layer.

    BatchNorm statistics: pruning changes what every later BatchNorm sees,
    and a binary network evaluated with stale moving statistics can be far
    worse than the network itself. Given `statistics_data` (training inputs),
    the callback re-estimates them (`tfbin.batchnorm.reestimate_statistics`)
    at the end of every epoch, after its last training step and so before
    validation, and at the end of training only if the network changed after
    that (a last removal there, or an epoch cut short), so that the trained
    model keeps the statistics its last validation was measured with.
    Training itself uses batch statistics, so this changes what is evaluated,
    never how the network trains. Without `statistics_data` it warns and
    leaves the moving statistics to Keras (`tfbin.training.train` gives it
    the training split).

    The masks and importance scores are layer weights, so `ModelCheckpoint` and
    `BackupAndRestore` save them; the schedule, the fading of pruned
    convolutions and the importance averaging depend only on those weights,
    the epoch and the step, so a resumed run prunes like an uninterrupted one.

    Every epoch it adds to the Keras logs (place it before CSVLogger or
    TensorBoard in the callback list): `pabt_bit_ops`, `pabt_weight_bits` and
    `pabt_activation_bits` (mean live bases per layer), `pabt_live_convolutions`
    and `pabt_live/<layer>`; and, when the logs hold `smoothness_metric`
    (validation accuracy: pass validation data to `fit`), `pabt_max_drop`:
    the largest fall of that metric below its value at the end of epoch
    `start_epoch - 1`, over the epochs of the pruning phase so far (0 before
    it starts), and `pabt_max_fall`: the largest fall of it below its best
    value since that reference, over the same epochs (a curve that first
    climbs during pruning and then drops shows it there, not in
    `pabt_max_drop`). They need `start_epoch >= 1`; after a
    `BackupAndRestore` resume past that epoch the reference is gone and they
    log NaN.

    Arguments:
        start_epoch: first epoch of the pruning phase (0-based).
        end_epoch: epoch at whose start the last convolutions are selected.
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
        fade_steps: 0 removes a selected convolution at once; k > 0 scales
            it down to 0 over k training steps (its mask goes 1 - 1/k, ...,
            0). A fading convolution still counts as live for the cost and is
            exported with its current scale.
        order: "any" (the least important live convolution), or
            "activations_first" / "weights_first": whole activation (weight)
            bases go first, the least important base first, until one is
            left, then the other kind.
        budget: "layer" (every layer follows the schedule) or "global" (the
            sum of live convolutions over layers follows it, and the least
            important convolutions of the whole network go first, scores
            normalised per layer; each layer keeps at least one).
        importance_window: None accumulates the Taylor score of a layer
            since its last pruning event; n > 0 keeps an exponential moving
            sum over about n steps instead (never reset).
        statistics_data: training inputs for re-estimating BatchNorm
            statistics (an array, `(x, y)`, `tfbin.data.Arrays`/`Dataset` or
            a batched `tf.data.Dataset`; see `tfbin.batchnorm.input_batches`).
            Never validation or test data. Not serialized by `get_config`.
        statistics_batches, statistics_batch_size: how much of it to read.
        smoothness_metric: the logged metric `pabt_max_drop` watches.

    ```python
    import tfbin
    from tfbin import callbacks, data, optimizers, pruning, zoo

    digits = data.digits_arrays()
    x, y = digits.x_train[:256], digits.y_train[:256]
    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    model.compile(optimizers.bop_optimizer(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    prune = callbacks.PruneToBinary(start_epoch=1, end_epoch=2, statistics_data=x, statistics_batches=1)
    history = model.fit(x, y, epochs=3, validation_data=(x[:64], y[:64]), callbacks=[prune], verbose=0)
    assert [len(layer.live_pairs()) for layer in prune.layers] == [1, 1, 1, 1]
    history.history["pabt_max_drop"]      # the largest validation accuracy drop so far
    bnn = pruning.strip_pruning(model)    # plain larq QuantConv2D layers, ready to convert
    ```
    """

    def __init__(self, start_epoch=None, end_epoch=None, schedule="linear", power=3, frequency="epoch",
                 update_every=100, importance="taylor", seed=0, verbose=0, fade_steps=0, order="any",
                 budget="layer", importance_window=None, statistics_data=None, statistics_batches=8,
                 statistics_batch_size=256, smoothness_metric="val_accuracy"):
        super().__init__()
        schedule_kwargs = {"power": power} if isinstance(schedule, str) else {}
        self.schedule = pruning.get_schedule(schedule, start_epoch, end_epoch, **schedule_kwargs)
        self.frequency = check_one_of("frequency", frequency, FREQUENCIES)
        self.update_every = check_int("update_every", update_every, minimum=1)
        self.importance = check_one_of("importance", importance, pruning.IMPORTANCE_KINDS)
        self.seed = check_int("seed", seed)
        self.verbose = check_int("verbose", verbose, minimum=0)
        self.fade_steps = check_int("fade_steps", fade_steps, minimum=0)
        self.order = check_one_of("order", order, ORDERS)
        self.budget = check_one_of("budget", budget, BUDGETS)
        if importance_window is not None:
            check_int("importance_window", importance_window, minimum=1)
            if importance != "taylor":
                raise ValueError(f"importance_window applies to importance='taylor' only, got {importance!r}")
        self.importance_window = importance_window
        self.statistics_data = statistics_data
        self.statistics_batches = check_int("statistics_batches", statistics_batches, minimum=1)
        self.statistics_batch_size = check_int("statistics_batch_size", statistics_batch_size, minimum=2)
        if not isinstance(smoothness_metric, str) or not smoothness_metric:
            raise ValueError(f"smoothness_metric must be the name of a logged metric, got {smoothness_metric!r}")
        self.smoothness_metric = smoothness_metric
        self._layers = []
        self._epoch = 0
        self._changed = False
        self._reference = None
        self._max_drop = 0.0
        self._peak = None
        self._max_fall = 0.0
        self._warned = set()

    @classmethod
    def for_epochs(cls, epochs, start=DEFAULT_PHASE[0], end=DEFAULT_PHASE[1], **kwargs):
        """The callback for a run of `epochs`, pruning from `start` to `end` (fractions of the run).

        The defaults are the ones measured best on digits
        (benchmarks/pabt_digits.py): a short warm-up, pruning until 40% of the
        run on the polynomial schedule (`DEFAULT_SCHEDULE`: fast while many
        convolutions are left, slowly at the end), then a long fine-tuning of
        the 1-bit network, pruning at every training step
        (`frequency="step"`, `update_every=1`). The start is at least epoch
        1, so that `pabt_max_drop` has a reference. Other arguments go to
        `PruneToBinary` and override these.
        """
        epochs = check_int("epochs", epochs, minimum=2)
        check_fraction("start", start)
        check_fraction("end", end, include_zero=False, include_one=True)
        if start >= end:
            raise ValueError(f"start ({start}) must be smaller than end ({end})")
        first = max(1, int(round(start * epochs)))
        last = min(epochs, max(first + 1, int(round(end * epochs))))
        kwargs.setdefault("schedule", DEFAULT_SCHEDULE)
        kwargs.setdefault("frequency", "step")
        kwargs.setdefault("update_every", 1)
        return cls(first, last, **kwargs)

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
            "fade_steps": self.fade_steps,
            "order": self.order,
            "budget": self.budget,
            "importance_window": self.importance_window,
            "statistics_batches": self.statistics_batches,
            "statistics_batch_size": self.statistics_batch_size,
            "smoothness_metric": self.smoothness_metric,
        }

    @classmethod
    def from_config(cls, config, statistics_data=None):
        """The callback of `config`; training data is not serialized, so pass it again."""
        config = dict(config)
        config["schedule"] = tf.keras.utils.deserialize_keras_object(config["schedule"])
        return cls(statistics_data=statistics_data, **config)

    @property
    def layers(self):
        """The `MultiBaseConv2D` layers being pruned."""
        return list(self._layers)

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"PruneToBinary: {message}", stacklevel=3)

    def on_train_begin(self, logs=None):
        self._layers = [m for m in self.model.submodules if isinstance(m, MultiBaseConv2D)]
        self._changed, self._reference, self._max_drop = False, None, 0.0
        self._peak, self._max_fall = None, 0.0
        self._statistics_current = False  # estimated for the network as it is now
        if not self._layers:
            raise ValueError(
                f"PruneToBinary: model {self.model.name!r} has no MultiBaseConv2D layer to prune"
            )
        steps = self.params.get("steps")
        if (self.frequency == "step" or self.fade_steps or self.importance_window) and not steps:
            raise ValueError(
                "PruneToBinary: frequency='step', fade_steps and importance_window need the number of "
                "steps per epoch; pass steps_per_epoch to fit (the dataset's size is unknown)"
            )
        epochs = self.params.get("epochs")
        if epochs is not None and self.end_epoch > epochs:
            raise ValueError(
                f"PruneToBinary: end_epoch ({self.end_epoch}) is beyond the planned epochs ({epochs})"
            )
        if self.statistics_data is None:
            self._warn_once("statistics", "no statistics_data: BatchNorm moving statistics are not "
                            "re-estimated after pruning, and a pruned binary network evaluated with stale "
                            "statistics can score far below what it learnt; pass statistics_data=<training inputs>")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._changed = False
        if self.frequency == "epoch":
            self._prune(time=float(epoch), event=epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.fade_steps:
            self._fade()
        if self.importance_window:
            decay = 1.0 - 1.0 / self.importance_window
            for layer in self._layers:
                layer.importance.assign(layer.importance * decay)
        if self.frequency == "step" and batch % self.update_every == 0:
            steps = self.params["steps"]
            self._prune(time=self._epoch + batch / steps, event=self._epoch * steps + batch)

    def on_train_batch_end(self, batch, logs=None):
        self._statistics_current = False  # the step changed the weights
        steps = self.params.get("steps")
        if steps and batch == steps - 1:
            self._reestimate()

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
        self._log_smoothness(epoch, logs)

    def _log_smoothness(self, epoch, logs):
        value = logs.get(self.smoothness_metric)
        if value is None:
            self._warn_once("metric", f"{self.smoothness_metric!r} is not in the logs, so pabt_max_drop is not "
                            "logged; pass validation data to fit")
            return
        if epoch == self.start_epoch - 1:
            self._reference = self._peak = float(value)
        in_phase = epoch >= self.start_epoch and (epoch <= self.end_epoch or self._changed)
        if in_phase:
            if self._reference is None:
                self._warn_once("reference", "the value of the metric before pruning started is unknown "
                                "(start_epoch 0, or a resumed run): pabt_max_drop is NaN")
                self._max_drop = self._max_fall = float("nan")
            else:
                self._max_drop = max(self._max_drop, self._reference - float(value))
                self._peak = max(self._peak, float(value))
                self._max_fall = max(self._max_fall, self._peak - float(value))
        logs["pabt_max_drop"] = self._max_drop
        logs["pabt_max_fall"] = self._max_fall

    def on_train_end(self, logs=None):
        # With end_epoch equal to the planned epochs there is no epoch at which
        # the last pruning step would run: finish it here, fading ones included.
        masks = [tf.keras.backend.get_value(layer.mask).copy() for layer in self._layers]
        if self._epoch + 1 >= self.end_epoch:
            self._prune(time=float(self.end_epoch), event=self.end_epoch)
            for layer in self._layers:
                mask = tf.keras.backend.get_value(layer.mask)
                if np.any((mask > 0) & (mask < 1)):
                    layer.mask.assign(np.where(mask < 1, 0.0, mask).astype(np.float32))
                    self._changed = True
        pruned = any(not np.array_equal(mask, tf.keras.backend.get_value(layer.mask))
                     for mask, layer in zip(masks, self._layers))
        # Unpruned since the last epoch's re-estimation, the network is the one last validated;
        # estimating again, on other batches of a reshuffling pipeline, would change its statistics.
        if pruned or not self._statistics_current:
            self._reestimate()

    def _reestimate(self):
        if self.statistics_data is None:
            return
        batchnorm.reestimate_statistics(self.model, self.statistics_data, self.statistics_batches,
                                        self.statistics_batch_size, seed=self.seed)
        self._statistics_current = True

    def _fade(self):
        k = self.fade_steps
        for layer in self._layers:
            mask = tf.keras.backend.get_value(layer.mask)
            fading = (mask > 0) & (mask < 1)
            if fading.any():
                # Masks stay exact multiples of 1/k, so the fade is the same after a resume.
                levels = np.round(mask * k)
                layer.mask.assign(np.where(fading, np.maximum(levels - 1, 0) / k, mask).astype(np.float32))
                self._changed = True

    def _prune(self, time, event):
        masks = [tf.keras.backend.get_value(layer.mask) for layer in self._layers]
        targets = [self.schedule.live_count(layer.weight_bases * layer.activation_bases, time)
                   for layer in self._layers]
        committed = [int(_fully_live(mask).sum()) for mask in masks]
        if self.budget == "layer":
            excess = [max(0, c - t) for c, t in zip(committed, targets)]
        else:
            excess = self._global_excess(masks, committed, sum(targets), event)
        for index, (layer, mask, count) in enumerate(zip(self._layers, masks, excess)):
            if not count:
                continue
            scores = np.asarray(pruning.importance_scores(layer, self.importance, self.seed, event, index),
                                np.float64)
            for _ in range(count):
                flat = mask.reshape(-1).copy()
                flat[_least_important(mask, scores, self.order)] = (
                    (self.fade_steps - 1) / self.fade_steps if self.fade_steps else 0.0
                )
                mask = flat.reshape(mask.shape)
            layer.mask.assign(mask.astype(np.float32))
            self._changed = True
            if self.importance == "taylor" and self.importance_window is None:
                # Taylor importance is accumulated between this layer's pruning events.
                layer.importance.assign(tf.zeros_like(layer.importance))
            if self.verbose:
                print(f"PruneToBinary: {layer.name}: pruned {count}, {int(_fully_live(mask).sum())} live "
                      f"convolution(s) (epoch {time:.2f})")

    def _global_excess(self, masks, committed, target, event):
        """How many convolutions each layer loses so that the network's total meets `target`."""
        total = sum(committed)
        excess = [0] * len(masks)
        if total <= target:
            return excess
        masks = [mask.copy() for mask in masks]
        normalised = []
        for index, (layer, mask) in enumerate(zip(self._layers, masks)):
            scores = np.asarray(pruning.importance_scores(layer, self.importance, self.seed, event, index),
                                np.float64)
            live_sum = scores[_fully_live(mask)].sum()
            normalised.append(scores / live_sum if live_sum > 0 else scores)
        for _ in range(total - target):
            best = None
            for index, (mask, scores) in enumerate(zip(masks, normalised)):
                if int(_fully_live(mask).sum()) <= 1:
                    continue
                flat = _least_important(mask, scores, self.order)
                if best is None or scores.reshape(-1)[flat] < best[0]:
                    best = (scores.reshape(-1)[flat], index, flat)
            if best is None:
                break
            _, index, flat = best
            masks[index].reshape(-1)[flat] = 0.0
            excess[index] += 1
        return excess


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


def _steps_applied(optimizer):
    """The number of training steps `optimizer` has applied.

    larq's `CaseOptimizer` (Bop for 1-bit weights, Adam for the rest) never
    advances its own `iterations`; the optimizers it holds count the steps.
    """
    if isinstance(optimizer, lq.optimizers.CaseOptimizer):
        return max(int(tf.keras.backend.get_value(part.iterations)) for part in optimizer.optimizers)
    return int(tf.keras.backend.get_value(optimizer.iterations))


def _error_decay_holders(model):
    """The layers and quantizers of `model` that hold an error decay t (IR-Net's EDE)."""
    return [module for module in model.submodules if getattr(module, "error_decay_t", None) is not None]


@register
class ErrorDecay(tf.keras.callbacks.Callback):
    """Raises the t of IR-Net's error decay estimator from `t_min` to `t_max` over training.

    At the start of epoch e of E, t = 10^(log10 t_min + (log10 t_max - log10
    t_min) e / E) (IR-Net's schedule; its last epoch runs just below t_max),
    set in every `tfbin.quantizers.ErrorDecaySign`, `LibraSign` and
    `tfbin.layers.SubBitConv2D` of the model. t depends only on the epoch, so
    a run resumed by `BackupAndRestore` continues the schedule. Adds `ede_t` to
    the epoch logs.

    Defaults: T_min = 0.1 and T_max = 10, as IR-Net's paper and its VGG-Small
    and ResNet-20 1w/32a code; its ResNet-20 1w/1a code starts at T_min = 1e-3
    (the estimator then stays close to the identity for most of training). The
    SNN paper uses the estimator without giving T_min or T_max.

    Arguments:
        t_min, t_max: t at the first epoch and the limit it approaches.
        epochs: the length of the schedule; by default the epochs of `fit`.

    ```python
    import tfbin
    from tfbin import callbacks, data, training, zoo

    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=8, conv="snn", tau=5)
    ede = callbacks.ErrorDecay(t_min=0.1, t_max=10.0)
    history = training.train(model, digits, epochs=2, callbacks=[ede], verbose=0)
    history.history["ede_t"]     # [0.1, 1.0]
    ```
    """

    def __init__(self, t_min=0.1, t_max=10.0, epochs=None, verbose=0):
        super().__init__()
        self.t_min = check_number("t_min", t_min, positive=True)
        self.t_max = check_number("t_max", t_max, positive=True)
        if self.t_max < self.t_min:
            raise ValueError(f"t_max ({t_max}) must not be smaller than t_min ({t_min})")
        self.epochs = None if epochs is None else check_int("epochs", epochs, minimum=1)
        self.verbose = verbose
        self._variables = []
        self._t = self.t_min

    def get_config(self):
        return {"t_min": self.t_min, "t_max": self.t_max, "epochs": self.epochs, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def t_at(self, epoch, epochs):
        """t at the start of `epoch` (0-based) of `epochs`."""
        low, high = np.log10(self.t_min), np.log10(self.t_max)
        return float(10.0 ** (low + (high - low) * min(epoch / epochs, 1.0)))

    def on_train_begin(self, logs=None):
        self._variables = [holder.error_decay_t for holder in _error_decay_holders(self.model)]
        if not self._variables:
            raise ValueError(
                f"ErrorDecay: model {self.model.name!r} has no ErrorDecaySign, LibraSign or SubBitConv2D"
            )

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.epochs or self.params.get("epochs")
        if not epochs:
            raise ValueError("ErrorDecay: pass epochs= when fit does not know the number of epochs")
        self._t = self.t_at(epoch, epochs)
        for variable in self._variables:
            variable.assign(self._t)
        if self.verbose:
            print(f"ErrorDecay: t = {self._t:.4g} at epoch {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["ede_t"] = self._t


# How RefineCodebooks refines: a Lloyd step on the kernels, or the SNN paper's gradient-trained copy.
REFINE_RULES = ("centroid", "gradient")


@register
class RefineCodebooks(tf.keras.callbacks.Callback):
    """Refines the codebook of every `tfbin.layers.SubBitConv2D` every `update_every` steps.

    Two rules:

    - "centroid" (default): a Lloyd step on the kernels (`tfbin.codebooks.recluster`).
      Each member becomes the sign of the sum of the standardised latent
      kernels mapped to it, and members no kernel uses take the most frequent
      kernels the codebook lacks. The codebook follows the kernels that
      training moves, and every member is used.
    - "gradient": the SNN paper's step (`tfbin.codebooks.refresh`). Each member
      takes the signs of its trained real-valued copy (which the gradients of
      the kernels mapped to it move), duplicates are replaced by random
      kernels not yet in the codebook, and the copy is clipped to 3x the
      layer's `codebook_init`. The SNN code does this every 25 iterations with
      `codebook_init` 1. A member then flips only after its copy has moved
      by about 1, which takes thousands of steps.

    On digits (16x16, width 16, 12 epochs, about 180 steps), "gradient"
    changed no member and scored exactly as the unrefined codebook, while
    "centroid" cut the bits where a kernel differs from its member from 12%
    to 3% at tau 7, with every member used (benchmarks/results/snn_refinement.md).
    Without this callback the codebook stays the random sample it started as
    (the paper's "Vanilla-SNN").

    Refinements happen when the optimizer's step count reaches a multiple of
    `update_every` (once per multiple passed, also when `steps_per_execution`
    runs several steps between callbacks), "gradient"'s random refills are
    drawn from (seed, step, layer), and the codebooks are layer weights: a run
    resumed by `BackupAndRestore` refines like an uninterrupted one. Adds
    `snn_codebook_changes` (members replaced or flipped during the epoch, all
    layers) to the epoch logs.

    Arguments:
        update_every: optimizer steps between refinements (>= 1).
        rule: "centroid" or "gradient" (above).
        seed: seed of "gradient"'s random refills.

    ```python
    import tfbin
    from tfbin import callbacks, data, training, zoo

    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=8, conv="snn", tau=4)
    refine = callbacks.RefineCodebooks(update_every=5)
    history = training.train(model, digits, epochs=1, callbacks=[refine], verbose=0)
    history.history["snn_codebook_changes"]
    ```
    """

    def __init__(self, update_every=25, rule="centroid", seed=0, verbose=0):
        super().__init__()
        self.update_every = check_int("update_every", update_every, minimum=1)
        self.rule = check_one_of("rule", rule, REFINE_RULES)
        self.seed = check_int("seed", seed, minimum=0)
        self.verbose = verbose
        self._layers = []
        self._changes = 0
        self._step = 0

    def get_config(self):
        return {"update_every": self.update_every, "rule": self.rule, "seed": self.seed, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def layers(self):
        """The `SubBitConv2D` layers being refined."""
        return list(self._layers)

    def on_train_begin(self, logs=None):
        self._layers = [m for m in self.model.submodules if isinstance(m, SubBitConv2D)]
        if not self._layers:
            raise ValueError(f"RefineCodebooks: model {self.model.name!r} has no SubBitConv2D layer")
        self._step = self._optimizer_step()

    def _optimizer_step(self):
        return _steps_applied(self.model.optimizer)

    def on_epoch_begin(self, epoch, logs=None):
        self._changes = 0
        # Read here, not in on_train_begin: BackupAndRestore may restore the
        # optimizer's step count after this callback's on_train_begin.
        self._step = self._optimizer_step()

    def on_train_batch_end(self, batch, logs=None):
        step, every = self._optimizer_step(), self.update_every
        for multiple in range((self._step // every + 1) * every, step + 1, every):
            self.refine(multiple)
        self._step = step

    def refine(self, step):
        """Refines every layer's codebook now, as at optimizer step `step`; returns the members changed."""
        changed = 0
        for index, layer in enumerate(self._layers):
            book = tf.keras.backend.get_value(layer.codebook)
            if self.rule == "centroid":
                book, count = codebooks.recluster(book, layer.standardized_units(), layer.unit_indices())
                # The real copy follows, so that a switch to "gradient" starts from these members.
                latent = book * layer.codebook_init
            else:
                rng = np.random.default_rng([self.seed, step, index])
                book, latent, count = codebooks.refresh(
                    book, tf.keras.backend.get_value(layer.codebook_latent), rng, scale=layer.codebook_init
                )
            layer.codebook.assign(book)
            layer.codebook_latent.assign(latent)
            changed += count
        self._changes += changed
        if self.verbose and changed:
            print(f"RefineCodebooks: step {step}: {changed} codebook member(s) changed")
        return changed

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["snn_codebook_changes"] = float(self._changes)
