"""PaBT, pruning as a binarization technique: the `PruneToBinary` callback and what it is made of.

`PruneToBinary` prunes whole binary convolutions of every `MultiBaseConv2D`
during `fit` until each layer has one. It holds four collaborators, each an
object a user can replace and that serializes with the callback, as TF Model
Optimization's pruning schedule does:

- the schedule: how many convolutions are live at a time
  (`tfbin.pruning.PolynomialSchedule`, `LinearSchedule` or a subclass);
- the importance: which convolutions matter least (`TaylorImportance`,
  `MagnitudeImportance`, `RandomImportance` or an `Importance` subclass);
- the selection: the order in which they go and whether the schedule holds
  per layer or for the network (`Selection`);
- the fading: whether a selected convolution goes at once or fades out over
  some steps (`Fading`).

Whether a convolution is live is `tfbin.layers.live_mask`, the one rule that
pruning, the cost model and export share.

```python
import tfbin
from tfbin import pabt, pruning

prune = pabt.PruneToBinary(
    schedule=pruning.LinearSchedule(2, 8),
    importance=pabt.TaylorImportance(window=100),
    selection=pabt.Selection(order="activations_first"),
    fading=pabt.Fading(steps=20),
)
restored = pabt.PruneToBinary.from_config(prune.get_config())
assert restored.selection.order == "activations_first" and restored.fading.steps == 20
```
"""
import warnings

import numpy as np
import tensorflow as tf

from tfbin import batchnorm, cost, pruning
from tfbin.choices import PRUNING_PHASE
from tfbin.layers import MultiBaseConv2D, live_mask
from tfbin.registry import register
from tfbin.validation import check_fraction, check_int, check_one_of

__all__ = [
    "BUDGETS",
    "DEFAULT_SCHEDULE",
    "FREQUENCIES",
    "IMPORTANCES",
    "ORDERS",
    "PRUNING_PHASE",
    "Fading",
    "Importance",
    "MagnitudeImportance",
    "PruneToBinary",
    "RandomImportance",
    "Selection",
    "TaylorImportance",
]

FREQUENCIES = ("epoch", "step")
# Which live convolutions may go next: any (by importance), or whole
# activation bases (columns of the M x N mask) first, or whole weight bases first.
ORDERS = ("any", "activations_first", "weights_first")
# The schedule's live count holds for every layer, or for the sum over layers.
BUDGETS = ("layer", "global")
# Polynomial (power 3) prunes fast while many convolutions are left and
# slowly at the end, where each removal takes a larger share of a layer and
# the network needs longer to recover (benchmarks/pabt_smoothness.py and
# pabt_digits.py).
DEFAULT_SCHEDULE = "polynomial"


def _committed(mask):
    """Live convolutions that are not fading: those the schedule counts and selection may pick."""
    return live_mask(mask, include_fading=False)


def _fading(mask):
    return live_mask(mask) & ~_committed(mask)


def _serialize(item):
    return tf.keras.utils.serialize_keras_object(item)


def _deserialize(config):
    return None if config is None else tf.keras.utils.deserialize_keras_object(config)


class _Config:
    """get_config/from_config of a collaborator whose arguments are its attributes."""

    _ARGUMENTS = ()

    def get_config(self):
        return {name: getattr(self, name) for name in self._ARGUMENTS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# -- importance ------------------------------------------------------------------


class Importance(_Config):
    """How much each of a layer's M x N binary convolutions matters; the least important go first.

    Subclasses implement `scores(layer, event, layer_index)`, an (M, N)
    array, and are registered (`tfbin.registry.register`) so that the callback
    that holds them serializes. The callback gives them its model
    (`set_model`) at the start of training, calls `before_step(layers)` before
    every training step and `after_pruning(layer)` when `layer` lost
    convolutions.
    """

    model = None

    def set_model(self, model):
        self.model = model

    def scores(self, layer, event, layer_index):
        raise NotImplementedError(f"{type(self).__name__} must implement scores(layer, event, layer_index)")

    def before_step(self, layers):
        pass

    def after_pruning(self, layer):
        pass


@register
class TaylorImportance(Importance):
    """|c * dL/dc| for each convolution's scale c, which the layer accumulates while it trains.

    window: None sums it since the layer's last pruning event; n > 0 keeps an
    exponential moving sum over about n steps instead (never reset).
    """

    _ARGUMENTS = ("window",)

    def __init__(self, window=None):
        self.window = None if window is None else check_int("window", window, minimum=1)

    def scores(self, layer, event, layer_index):
        return tf.keras.backend.get_value(layer.importance)

    def before_step(self, layers):
        if self.window:
            decay = 1.0 - 1.0 / self.window
            for layer in layers:
                layer.importance.assign(layer.importance * decay)

    def after_pruning(self, layer):
        if self.window is None:
            layer.importance.assign(tf.zeros_like(layer.importance))


@register
class MagnitudeImportance(Importance):
    """|gamma_mn * alpha_m * beta_n|, the mean over output channels (an ablation)."""

    def scores(self, layer, event, layer_index):
        coefficients = tf.keras.backend.get_value(layer.coefficients())  # (N, M, F)
        return np.abs(coefficients).mean(axis=2).T


@register
class RandomImportance(Importance):
    """Uniform noise keyed by (seed, event, layer_index), so a resumed run draws the same (an ablation)."""

    _ARGUMENTS = ("seed",)

    def __init__(self, seed=0):
        self.seed = check_int("seed", seed)

    def scores(self, layer, event, layer_index):
        rng = np.random.default_rng([self.seed, event, layer_index])
        return rng.random((layer.weight_bases, layer.activation_bases))


# The names that stand for importance classes where an importance is asked for.
IMPORTANCES = {"taylor": TaylorImportance, "magnitude": MagnitudeImportance, "random": RandomImportance}


def _importance(importance, seed):
    if isinstance(importance, Importance):
        return importance
    check_one_of("importance", importance, tuple(IMPORTANCES))
    return RandomImportance(seed) if importance == "random" else IMPORTANCES[importance]()


# -- selection and fading -----------------------------------------------------------


@register
class Selection(_Config):
    """How many live convolutions each layer loses at a pruning event, and which.

    Arguments:
        order: "any" (the least important live convolution), or
            "activations_first" / "weights_first": whole activation (weight)
            bases go first, the least important base first, until one is
            left, then the other kind.
        budget: "layer" (every layer follows the schedule) or "global" (the
            sum of live convolutions over layers follows it, and the least
            important convolutions of the whole network go first, scores
            normalised per layer; each layer keeps at least one).

    Subclasses may override `targets` (the live count of each layer at a
    time) and `network_target` (the network's total under budget="global").
    """

    _ARGUMENTS = ("order", "budget")

    def __init__(self, order="any", budget="layer"):
        self.order = check_one_of("order", order, ORDERS)
        self.budget = check_one_of("budget", budget, BUDGETS)

    def targets(self, schedule, layers, time):
        """How many convolutions each of `layers` keeps at `time` (epochs)."""
        return [schedule.live_count(layer.weight_bases * layer.activation_bases, time) for layer in layers]

    def network_target(self, schedule, layers, time):
        """How many convolutions the network keeps at `time` under budget="global"."""
        return sum(self.targets(schedule, layers, time))

    def excess(self, schedule, layers, masks, time, scores):
        """How many convolutions each layer loses now; `scores(index)` is layer index's importance."""
        committed = [int(_committed(mask).sum()) for mask in masks]
        if self.budget == "layer":
            return [max(0, c - t) for c, t in zip(committed, self.targets(schedule, layers, time))]
        return self._global_excess(masks, committed, self.network_target(schedule, layers, time), scores)

    def least_important(self, mask, scores):
        """The flat index of the least important convolution that may go next (ties: lowest index)."""
        candidates = self._candidates(mask, scores)
        return int(candidates[np.argsort(scores.reshape(-1)[candidates], kind="stable")[0]])

    def _candidates(self, mask, scores):
        live = _committed(mask)
        if self.order != "any":
            axis = 0 if self.order == "activations_first" else 1  # activation base n is column n
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

    def _global_excess(self, masks, committed, target, scores):
        total = sum(committed)
        excess = [0] * len(masks)
        if total <= target:
            return excess
        masks = [mask.copy() for mask in masks]
        normalised = []
        for index, mask in enumerate(masks):
            layer_scores = scores(index)
            live_sum = layer_scores[_committed(mask)].sum()
            normalised.append(layer_scores / live_sum if live_sum > 0 else layer_scores)
        for _ in range(total - target):
            best = None
            for index, (mask, layer_scores) in enumerate(zip(masks, normalised)):
                if int(_committed(mask).sum()) <= 1:
                    continue
                flat = self.least_important(mask, layer_scores)
                if best is None or layer_scores.reshape(-1)[flat] < best[0]:
                    best = (layer_scores.reshape(-1)[flat], index, flat)
            if best is None:
                break
            _, index, flat = best
            masks[index].reshape(-1)[flat] = 0.0
            excess[index] += 1
        return excess


@register
class Fading(_Config):
    """Scales a selected convolution down to 0 over `steps` training steps instead of removing it at once.

    Its mask goes 1 - 1/steps, ..., 0; while it fades it still counts as
    live for the cost and is exported with its current scale.
    """

    _ARGUMENTS = ("steps",)

    def __init__(self, steps):
        self.steps = check_int("steps", steps, minimum=1)

    @property
    def selected(self):
        """The mask value of a convolution just selected."""
        return (self.steps - 1) / self.steps

    def step(self, mask):
        """`mask` one training step later."""
        # Masks stay exact multiples of 1/steps, so the fade is the same after a resume.
        levels = np.round(mask * self.steps)
        return np.where(_fading(mask), np.maximum(levels - 1, 0) / self.steps, mask)


# -- the callback --------------------------------------------------------------------


@register
class PruneToBinary(tf.keras.callbacks.Callback):
    """Prunes whole binary convolutions of every `MultiBaseConv2D` until each has one.

    Training runs in three phases (PaBT): warm-up before `start_epoch` with all
    M x N convolutions, pruning from `start_epoch` to `end_epoch` following the
    schedule, fine-tuning of the resulting 1-bit network after `end_epoch`.
    At each pruning event the least important live convolutions are removed.
    The defaults are the ones measured best on digits (benchmarks/pabt_digits.py
    and pabt_smoothness.py): the polynomial schedule, pruning at every step,
    Taylor importance, per-layer budget, no fading. `for_epochs` places the
    phase that was measured best in a run of a given length.

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

    Subclasses may override `prune(time, event)` (one pruning event) and call
    `reestimate_statistics()`.

    Arguments:
        start_epoch: first epoch of the pruning phase (0-based).
        end_epoch: epoch at whose start the last convolutions are selected.
        schedule: a `tfbin.pruning.PruningSchedule` (which then holds the
            epochs: leave start_epoch and end_epoch out), or a name of
            `tfbin.pruning.PRUNING_SCHEDULES` for that schedule over
            start_epoch to end_epoch.
        frequency: "step" (every `update_every` steps) or "epoch" (at the
            start of epochs).
        update_every: steps between pruning events when `frequency="step"`.
        importance: an `Importance`, or a name of `IMPORTANCES` ("random"
            draws from `seed`).
        selection: a `Selection` (order and budget); None: `Selection()`.
        fading: a `Fading`, or None to remove selected convolutions at once.
        seed: seed of the "random" importance and of the statistics batches.
        verbose: 1 prints each pruning event.
        statistics_data: training inputs for re-estimating BatchNorm
            statistics (an array, `(x, y)`, `tfbin.data.Arrays`/`Dataset` or
            a batched `tf.data.Dataset`; see `tfbin.batchnorm.input_batches`).
            Never validation or test data. Not serialized by `get_config`.
        statistics_batches: how many batches of it to read.
        statistics_batch_size: the size of those batches when it is arrays
            (see `tfbin.batchnorm.input_batches`).
        smoothness_metric: the logged metric `pabt_max_drop` watches.

    ```python
    import tfbin
    from tfbin import data, optimizers, pabt, pruning, zoo

    digits = data.digits_arrays()
    x, y = digits.x_train[:256], digits.y_train[:256]
    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    model.compile(optimizers.bop_optimizer(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    prune = pabt.PruneToBinary(start_epoch=1, end_epoch=2, statistics_data=x, statistics_batches=1)
    history = model.fit(x, y, epochs=3, validation_data=(x[:64], y[:64]), callbacks=[prune], verbose=0)
    assert [len(layer.live_pairs()) for layer in prune.layers] == [1, 1, 1, 1]
    history.history["pabt_max_drop"]      # the largest validation accuracy drop so far
    bnn = pruning.strip_pruning(model)    # plain larq QuantConv2D layers, ready to convert
    ```
    """

    def __init__(self, start_epoch=None, end_epoch=None, schedule=DEFAULT_SCHEDULE, frequency="step",
                 update_every=1, importance="taylor", selection=None, fading=None, seed=0, verbose=0,
                 statistics_data=None, statistics_batches=8, statistics_batch_size=256,
                 smoothness_metric="val_accuracy"):
        super().__init__()
        self.schedule = pruning.get_schedule(schedule, start_epoch, end_epoch)
        self.frequency = check_one_of("frequency", frequency, FREQUENCIES)
        self.update_every = check_int("update_every", update_every, minimum=1)
        self.seed = check_int("seed", seed)
        self.importance = _importance(importance, self.seed)
        self.selection = Selection() if selection is None else selection
        if not isinstance(self.selection, Selection):
            raise ValueError(f"selection must be a tfbin.pabt.Selection or None, got {selection!r}")
        if fading is not None and not isinstance(fading, Fading):
            raise ValueError(f"fading must be a tfbin.pabt.Fading or None, got {fading!r}")
        self.fading = fading
        self.verbose = check_int("verbose", verbose, minimum=0)
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
    def for_epochs(cls, epochs, start=PRUNING_PHASE[0], end=PRUNING_PHASE[1], **kwargs):
        """The callback for a run of `epochs`, pruning from `start` to `end` (fractions of the run).

        The default phase (`PRUNING_PHASE`) is the one measured best on digits
        (benchmarks/pabt_digits.py): a short warm-up, pruning until 40% of the
        run, then a long fine-tuning of the 1-bit network. The start is at
        least epoch 1, so that `pabt_max_drop` has a reference. Other
        arguments go to `PruneToBinary`.
        """
        epochs = check_int("epochs", epochs, minimum=2)
        check_fraction("start", start)
        check_fraction("end", end, include_zero=False, include_one=True)
        if start >= end:
            raise ValueError(f"start ({start}) must be smaller than end ({end})")
        first = max(1, int(round(start * epochs)))
        last = min(epochs, max(first + 1, int(round(end * epochs))))
        return cls(first, last, **kwargs)

    @property
    def start_epoch(self):
        return self.schedule.start_epoch

    @property
    def end_epoch(self):
        return self.schedule.end_epoch

    def get_config(self):
        return {
            "schedule": _serialize(self.schedule),
            "frequency": self.frequency,
            "update_every": self.update_every,
            "importance": _serialize(self.importance),
            "selection": _serialize(self.selection),
            "fading": None if self.fading is None else _serialize(self.fading),
            "seed": self.seed,
            "verbose": self.verbose,
            "statistics_batches": self.statistics_batches,
            "statistics_batch_size": self.statistics_batch_size,
            "smoothness_metric": self.smoothness_metric,
        }

    @classmethod
    def from_config(cls, config, statistics_data=None):
        """The callback of `config`; training data is not serialized, so pass it again."""
        config = dict(config)
        for name in ("schedule", "importance", "selection", "fading"):
            config[name] = _deserialize(config[name])
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
        self.importance.set_model(self.model)
        if (self.frequency == "step" or self.fading) and not self.params.get("steps"):
            raise ValueError(
                "PruneToBinary: frequency='step' and fading need the number of steps per epoch; pass "
                "steps_per_epoch to fit (the dataset's size is unknown), or use frequency='epoch'"
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
            self.prune(time=float(epoch), event=epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.fading:
            self._fade()
        self.importance.before_step(self._layers)
        if self.frequency == "step" and batch % self.update_every == 0:
            steps = self.params["steps"]
            self.prune(time=self._epoch + batch / steps, event=self._epoch * steps + batch)

    def on_train_batch_end(self, batch, logs=None):
        self._statistics_current = False  # the step changed the weights
        steps = self.params.get("steps")
        if steps and batch == steps - 1:
            self.reestimate_statistics()

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
            self.prune(time=float(self.end_epoch), event=self.end_epoch)
            for layer in self._layers:
                mask = tf.keras.backend.get_value(layer.mask)
                if np.any(_fading(mask)):
                    layer.mask.assign(np.where(mask < 1, 0.0, mask).astype(np.float32))
                    self._changed = True
        pruned = any(not np.array_equal(mask, tf.keras.backend.get_value(layer.mask))
                     for mask, layer in zip(masks, self._layers))
        # Unpruned since the last epoch's re-estimation, the network is the one last validated;
        # estimating again, on other batches of a reshuffling pipeline, would change its statistics.
        if pruned or not self._statistics_current:
            self.reestimate_statistics()

    def reestimate_statistics(self):
        """Re-estimates the model's BatchNorm statistics on `statistics_data` (nothing without it)."""
        if self.statistics_data is None:
            return
        batchnorm.reestimate_statistics(self.model, self.statistics_data, self.statistics_batches,
                                        self.statistics_batch_size, seed=self.seed)
        self._statistics_current = True

    def _fade(self):
        for layer in self._layers:
            mask = tf.keras.backend.get_value(layer.mask)
            if _fading(mask).any():
                layer.mask.assign(self.fading.step(mask).astype(np.float32))
                self._changed = True

    def prune(self, time, event):
        """One pruning event at `time` (epochs, fractions allowed), the `event`-th step or epoch of training."""
        masks = [tf.keras.backend.get_value(layer.mask) for layer in self._layers]
        scores = {}

        def layer_scores(index):
            if index not in scores:
                scores[index] = np.asarray(self.importance.scores(self._layers[index], event, index), np.float64)
            return scores[index]

        excess = self.selection.excess(self.schedule, self._layers, masks, time, layer_scores)
        # Every layer is scored before any loses a convolution: a score may depend on the whole network.
        for index, count in enumerate(excess):
            if count:
                layer_scores(index)
        selected = self.fading.selected if self.fading else 0.0
        for index, (layer, mask, count) in enumerate(zip(self._layers, masks, excess)):
            if not count:
                continue
            for _ in range(count):
                flat = mask.reshape(-1).copy()
                flat[self.selection.least_important(mask, scores[index])] = selected
                mask = flat.reshape(mask.shape)
            layer.mask.assign(mask.astype(np.float32))
            self._changed = True
            self.importance.after_pruning(layer)
            if self.verbose:
                print(f"PruneToBinary: {layer.name}: pruned {count}, {int(_committed(mask).sum())} live "
                      f"convolution(s) (epoch {time:.2f})")
