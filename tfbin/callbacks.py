"""Keras callbacks: PaBT pruning, STQ-A filter pruning, and the sub-bit (SNN) / IR-Net training schedules.

`PruneToBinary` lives in `tfbin.pabt` with what it is made of; it is
re-exported here next to the other callbacks.

```python
import tfbin
from tfbin import callbacks

# Warm up 2 epochs, prune at every step from epoch 2 to 8 (PaBT's defaults), then fine-tune.
prune = callbacks.PruneToBinary(2, 8)
# Sub-bit networks: IR-Net's error decay estimator and codebook refinement every 25 steps.
snn = [callbacks.ErrorDecay(t_min=0.1, t_max=10.0), callbacks.RefineCodebooks(update_every=25)]
```
"""
import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import codebooks, cost, stq
from tfbin.layers import SubBitConv2D
from tfbin.pabt import PruneToBinary
from tfbin.registry import register
from tfbin.validation import check_fraction, check_int, check_number, check_one_of

__all__ = [
    "ErrorDecay",
    "PruneFilters",
    "PruneToBinary",
    "RefineCodebooks",
    "REFINE_RULES",
]


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
        layers: as for `tfbin.stq.prune_filters`.
        channel_multiple: as for `tfbin.stq.prune_filters`.
        max_layer_fraction: as for `tfbin.stq.prune_filters`.
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
        t_min: t at the first epoch.
        t_max: the limit t approaches.
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
    to 3% at tau 7, with every member used (benchmarks/results/snn_accuracy_16_12ep.md).
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
