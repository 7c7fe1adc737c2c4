"""STQ-Nets: structured ternary binary convolutions (every 2D filter binary or zero).

A 2D filter is one (input channel, output filter) slice `kernel[:, :, i, k]`
of a binary convolution. STQ-Nets (Munagala et al., BMVC 2020) zero whole
2D filters so that the deployed network can leave them out, and measure it by
the PFR: pruned 2D filters / all 2D filters of the binary layers.

- `MaskedQuantConv2D`: a larq `QuantConv2D` with a non-trainable 0/1
  `filter_mask` of shape (in channels, filters); checkpoints and
  `BackupAndRestore` keep it like any weight. `with_masks(model)` gives a
  copy of a model whose binary convolutions carry masks.
- STQ-B: `expander_compression=c` draws a fixed random mask at build time
  (Deep Expander Networks): every filter keeps in_channels / c of the input
  channels, a random subset that is shared by the filters of one of c groups,
  so that the deployed layer is c dense binary convolutions.
- STQ-A: `add_gamma_l1(model, 1e-4)` puts an L1 penalty on the BatchNorm
  scales after the binary convolutions; `prune_filters(model, 0.5)` picks one
  global threshold over all |gamma| for a target PFR and masks those filters
  (`tfbin.callbacks.PruneFilters` does it during `fit`); then fine-tune.
- `tfbin.pruning.strip_pruning` (and so `tfbin.convert.convert`) removes the
  masked filters physically (`tfbin.shrink`): Larq Compute Engine keeps a
  kernel with zeros as a float convolution, so zeros never reach it.

```python
import tfbin
from tfbin import cost, stq, zoo

model = stq.with_masks(zoo.digits_resnet(width=16, block="basic"))
stq.add_gamma_l1(model, 1e-4)        # STQ-A: sparsity on the BatchNorm scales while training
result = stq.prune_filters(model, target_pfr=0.5)
round(result.pfr, 2), cost.model_cost(model).pfr
expander = stq.with_masks(zoo.digits_resnet(width=16), expander_compression=2, seed=0)   # STQ-B
```
"""
import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import cost, graph
from tfbin.cost import flatten_layers, is_one_bit
from tfbin.registry import register
from tfbin.validation import check_fraction, check_int, check_number

__all__ = [
    "MaskedQuantConv2D",
    "PruneResult",
    "add_gamma_l1",
    "channel_readers",
    "expander_mask",
    "filter_batch_norm",
    "masked_layers",
    "pfr",
    "prune_filters",
    "with_masks",
]

def expander_mask(in_channels, filters, compression, seed=0):
    """The STQ-B mask of shape (in_channels, filters): 1 where a 2D filter is kept.

    The input channels are shuffled with `seed` and cut into `compression`
    groups of in_channels / compression; filter k belongs to group
    k // (filters / compression) and keeps exactly the channels of its group.
    Every filter thus keeps a fixed random subset (fan-in D = in_channels /
    compression, as in Deep Expander Networks) and PFR = 1 - 1 / compression.
    """
    in_channels = check_int("in_channels", in_channels, minimum=1)
    filters = check_int("filters", filters, minimum=1)
    compression = check_int("expander_compression", compression, minimum=1)
    if in_channels % compression or filters % compression:
        raise ValueError(
            f"expander_compression ({compression}) must divide both the input channels ({in_channels}) "
            f"and the filters ({filters})"
        )
    mask = np.zeros((in_channels, filters), np.float32)
    order = np.random.default_rng(seed).permutation(in_channels)
    fan_in, group = in_channels // compression, filters // compression
    for g in range(compression):
        mask[np.ix_(order[g * fan_in : (g + 1) * fan_in], np.arange(g * group, (g + 1) * group))] = 1.0
    return mask


@register
class MaskedQuantConv2D(lq.layers.QuantConv2D):
    """A binary `QuantConv2D` whose 2D filters are masked: each binary or zero.

    Arguments:
        expander_compression: 1 (default) starts with every 2D filter kept;
            c >= 2 starts with an STQ-B expander mask (`expander_mask`) that
            keeps in_channels / c input channels per filter (PFR 1 - 1/c).
            c must divide the input channels and `filters`.
        expander_seed: seed of the expander mask.

    The other arguments are as for `lq.layers.QuantConv2D`; `input_quantizer`
    and `kernel_quantizer` must be 1-bit (a sign), `groups` 1.

    The mask is the non-trainable weight `filter_mask`, shape (in channels,
    filters); the convolution uses `sign(kernel) * mask`, so masked 2D filters
    get no gradient and stay pruned while the rest trains.

    ```python
    import tfbin
    import tensorflow as tf
    from tfbin.stq import MaskedQuantConv2D

    layer = MaskedQuantConv2D(16, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                              kernel_constraint="weight_clip", expander_compression=4, expander_seed=1)
    y = layer(tf.random.normal((2, 8, 8, 8)))
    layer.filter_mask.numpy().sum(axis=0)    # every filter keeps 8 / 4 = 2 input channels
    ```
    """

    def __init__(self, filters, kernel_size, expander_compression=1, expander_seed=0, **kwargs):
        self.expander_compression = check_int("expander_compression", expander_compression, minimum=1)
        self.expander_seed = check_int("expander_seed", expander_seed, minimum=0)
        super().__init__(filters, kernel_size, **kwargs)
        if not (is_one_bit(self.input_quantizer) and is_one_bit(self.kernel_quantizer)):
            raise ValueError(
                f"{self.name}: STQ masks go on binary convolutions; input_quantizer and kernel_quantizer "
                f"must be 1-bit (for example 'ste_sign'), got {self.input_quantizer!r} and {self.kernel_quantizer!r}"
            )
        if self.groups != 1:
            raise ValueError(f"{self.name}: groups must be 1 for MaskedQuantConv2D, got {self.groups}")
        if self.data_format != "channels_last":
            raise ValueError(f"{self.name}: data_format must be 'channels_last', got {self.data_format!r}")
        if self.filters % self.expander_compression:
            raise ValueError(
                f"{self.name}: expander_compression ({self.expander_compression}) must divide filters ({self.filters})"
            )

    def build(self, input_shape):
        in_channels = int(tf.TensorShape(input_shape)[-1])
        if in_channels % self.expander_compression:
            raise ValueError(
                f"{self.name}: expander_compression ({self.expander_compression}) must divide the input "
                f"channels ({in_channels})"
            )
        super().build(input_shape)
        initial = expander_mask(in_channels, self.filters, self.expander_compression, self.expander_seed)
        self.filter_mask = self.add_weight(
            "filter_mask",
            shape=(in_channels, self.filters),
            initializer=tf.keras.initializers.Constant(initial),
            trainable=False,
        )

    def convolution_op(self, inputs, kernel):
        # The kernel arrives quantized (+-1); masked 2D filters become 0.
        return super().convolution_op(inputs, kernel * self.filter_mask)

    def get_config(self):
        return {
            **super().get_config(),
            "expander_compression": self.expander_compression,
            "expander_seed": self.expander_seed,
        }

    def quant_conv_config(self):
        """The config of the same convolution as a plain larq `QuantConv2D` (without the mask)."""
        config = self.get_config()
        del config["expander_compression"], config["expander_seed"]
        return config


def masked_layers(model):
    """The `MaskedQuantConv2D` layers of `model`, nested models included, in model order."""
    return [layer for layer in flatten_layers(model) if isinstance(layer, MaskedQuantConv2D)]


def _is_maskable(layer):
    return (
        type(layer) is lq.layers.QuantConv2D
        and is_one_bit(layer.input_quantizer)
        and is_one_bit(layer.kernel_quantizer)
        and layer.groups == 1
        and layer.data_format == "channels_last"
    )


def with_masks(model, layers=None, expander_compression=1, seed=0):
    """A copy of `model` in which binary convolutions are `MaskedQuantConv2D`, same weights.

    Arguments:
        layers: names of the layers to mask; by default every larq
            `QuantConv2D` with 1-bit input and kernel quantizers.
        expander_compression: 1 keeps every 2D filter (STQ-A prunes later);
            c >= 2 gives each masked layer an STQ-B expander mask.
        seed: the expander masks' seed; layer i of the model gets its own
            seed drawn from (seed, i).
    """
    check_int("expander_compression", expander_compression, minimum=1)
    check_int("seed", seed, minimum=0)
    all_layers = list(model.layers)
    if layers is None:
        chosen = [layer for layer in all_layers if _is_maskable(layer)]
        if not chosen:
            raise ValueError(
                f"{model.name}: no binary convolution to mask (a larq QuantConv2D with 1-bit input and "
                "kernel quantizers)"
            )
    else:
        by_name = {layer.name: layer for layer in all_layers}
        chosen = []
        for name in [layers] if isinstance(layers, str) else list(layers):
            layer = by_name.get(name)
            if layer is None:
                raise ValueError(f"layers: {model.name} has no layer {name!r}")
            if not _is_maskable(layer):
                raise ValueError(
                    f"layers: {name} is a {type(layer).__name__} that STQ masks cannot shrink; masks go on "
                    "binary convolutions: larq QuantConv2D with 1-bit input and kernel quantizers, groups=1, "
                    "channels_last"
                )
            chosen.append(layer)
    seeds = {
        id(layer): int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        for i, layer in enumerate(all_layers)
    }
    chosen_ids = {id(layer) for layer in chosen}

    def replace(layer):
        if id(layer) not in chosen_ids:
            return None
        masked = MaskedQuantConv2D.from_config(
            {**layer.get_config(), "expander_compression": expander_compression,
             "expander_seed": seeds[id(layer)]}
        )

        def apply(inputs):
            outputs = masked(inputs)
            for source, target in zip(layer.weights, masked.weights):
                target.assign(tf.keras.backend.get_value(source))
            return outputs

        return apply

    return graph.rewrite(model, replace)


def pfr(model):
    """Pruned 2D filters / all 2D filters of the binary layers (`tfbin.cost.ModelCost.pfr`)."""
    return cost.model_cost(model).pfr


# -- STQ-A ----------------------------------------------------------------------


def filter_batch_norm(layer):
    """The BatchNormalization that alone reads `layer`'s output (channels last), or None."""
    readers = graph.consumers(layer)
    if not readers or len(readers) != 1:
        return None
    bn = readers[0]
    if not isinstance(bn, tf.keras.layers.BatchNormalization) or list(bn.axis) not in ([3], [-1]):
        return None
    return bn


def _scope(model, layers):
    masked = masked_layers(model)
    if layers is None:
        return masked
    by_name = {layer.name: layer for layer in flatten_layers(model)}
    chosen = []
    for name in [layers] if isinstance(layers, str) else list(layers):
        layer = by_name.get(name)
        if layer is None:
            raise ValueError(f"layers: {model.name} has no layer {name!r}")
        if not isinstance(layer, MaskedQuantConv2D):
            raise ValueError(
                f"layers: {name} is a {type(layer).__name__}, not a MaskedQuantConv2D; "
                "give the model masks first with tfbin.stq.with_masks"
            )
        chosen.append(layer)
    return chosen


# Layers named in full when STQ-A refuses some; the rest are counted.
_NAMED_REFUSALS = 3


def _batch_norms(layers, what):
    norms = []
    missing = []
    for layer in layers:
        bn = filter_batch_norm(layer)
        if bn is None or not bn.scale:
            readers = graph.consumers(layer)
            after = ", ".join(f"{r.name} ({type(r).__name__})" for r in readers or []) or "nothing"
            missing.append(f"{layer.name} is followed by {after}")
        norms.append(bn)
    if missing:
        named = "; ".join(missing[:_NAMED_REFUSALS])
        if len(missing) > _NAMED_REFUSALS:
            named += f"; and {len(missing) - _NAMED_REFUSALS} more"
        raise ValueError(
            f"{what} needs a BatchNormalization (with a scale, channels last) that alone reads each binary "
            f"convolution: its gamma scales the filters; {named}. Allowed: a convolution whose only reader is "
            "such a BatchNormalization, as in the tfbin.zoo blocks 'bireal', 'basic' and 'bottleneck' (not "
            "'reactnet', whose ChannelScale comes first); name the others' layers out with `layers`"
        )
    return norms


def add_gamma_l1(model, strength=1e-4, layers=None):
    """STQ-A's sparsity: an L1 penalty `strength * sum |gamma|` on the BatchNorms after binary convolutions.

    The BatchNormalization that alone reads each masked convolution (or
    each one named in `layers`) gets `gamma_regularizer=L1(strength)` (so a
    saved and reloaded model keeps it) and the penalty is added to the
    model's losses now, before compiling. STQ-Nets uses 1e-4 or 1e-5.
    Returns the names of the BatchNormalization layers.
    """
    strength = check_number("strength", strength, positive=True)
    layers = _scope(model, layers)
    if not layers:
        raise ValueError(f"{model.name}: no MaskedQuantConv2D layer; give the model masks with tfbin.stq.with_masks")
    norms = _batch_norms(layers, "STQ-A (add_gamma_l1)")
    for bn in norms:
        current = bn.gamma_regularizer
        if isinstance(current, tf.keras.regularizers.L1):
            if not np.isclose(float(current.l1), strength):
                raise ValueError(
                    f"{bn.name} already has an L1 penalty of {float(current.l1):g} on gamma; strength={strength:g} "
                    "would add a second one"
                )
            continue
        regularizer = tf.keras.regularizers.L1(strength)
        bn.gamma_regularizer = regularizer
        bn.add_loss(lambda bn=bn, regularizer=regularizer: regularizer(bn.gamma))
    return [bn.name for bn in norms]


@dataclasses.dataclass
class PruneResult:
    """What `prune_filters` did: the global |gamma| threshold, the PFR reached and filters pruned per layer."""

    threshold: float
    pfr: float
    pruned: dict  # layer name -> output filters pruned (in total, after this call)


def channel_readers(model, layer):
    """The masked convolutions that alone read `layer`'s filters, directly or through its BatchNorm.

    [] when anything else reads them (a residual addition, a model output, a
    float layer): then a pruned filter's channel must stay in the tensor
    (`tfbin.shrink` scatters it back), otherwise it can go with the readers'
    2D filters on it.
    """
    bn = filter_batch_norm(layer)
    source = bn if bn is not None else layer
    readers = graph.consumers(source)
    if (
        not readers
        or source.name in model.output_names
        or not all(isinstance(r, MaskedQuantConv2D) and graph.consumers(r) is not None for r in readers)
    ):
        return []
    return readers


class _Candidates:
    """One layer's filters in pruning order: those masked already, then live ones by |gamma|."""

    def __init__(self, model, layer, bn, max_layer_fraction, channel_multiple):
        self.layer = layer
        self.readers = channel_readers(model, layer)
        mask = tf.keras.backend.get_value(layer.filter_mask)
        self.filters = mask.shape[1]
        dead = ~mask.any(axis=0)
        self.already = int(dead.sum())
        gamma = np.abs(tf.keras.backend.get_value(bn.gamma))
        self.order = np.lexsort((gamma, ~dead))
        self.gamma = gamma[self.order][self.already:]
        self.multiple = channel_multiple
        self.fewest = max(int(np.ceil((1.0 - max_layer_fraction) * self.filters - 1e-9)), 1)
        if channel_multiple > 1:
            self.fewest = int(np.ceil(self.fewest / channel_multiple)) * channel_multiple

    def gone(self, threshold):
        """The filters pruned at `threshold`: |gamma| at or under it, the layer's cap kept, kept in steps of `multiple`."""
        under = int(np.searchsorted(self.gamma, threshold, side="right"))
        if not under:
            return self.order[: self.already]
        kept = self.filters - self.already - under
        if self.multiple > 1:
            kept = int(np.floor(kept / self.multiple + 0.5)) * self.multiple
        kept = max(kept, self.fewest)
        return self.order[: max(self.already, self.filters - kept)]


def _masks_at(candidates, masks, threshold):
    """Copies of `masks` (by layer id) with what `threshold` prunes masked: filters and their readers' channels."""
    masks = {key: mask.copy() for key, mask in masks.items()}
    for candidate in candidates:
        gone = candidate.gone(threshold)
        masks[id(candidate.layer)][:, gone] = 0.0
        for reader in candidate.readers:
            masks[id(reader)][gone, :] = 0.0
    return masks


def _binary_filter_count(model):
    costs = cost.model_cost(model)
    total = sum(c.filters_2d for c in costs.layers if c.filters_2d)
    pruned = sum(c.pruned_filters_2d for c in costs.layers if c.filters_2d)
    return total, pruned


def prune_filters(model, target_pfr, layers=None, channel_multiple=1, max_layer_fraction=0.9):
    """STQ-A's pruning step: one global |gamma| threshold that reaches `target_pfr`, then mask.

    Every masked convolution in scope (all `MaskedQuantConv2D` layers, or
    those named in `layers`) must be read by a BatchNormalization alone; its
    filters are ranked together by |gamma| of that BatchNorm, and those at or
    under one threshold have their 2D filters zeroed. Of the `tfbin.zoo`
    blocks, "bireal", "basic" and "bottleneck" are built so; "reactnet" is
    refused (a per-channel `ChannelScale` comes between its convolution and
    the BatchNorm, so gamma alone does not scale the filters). When the pruned
    filters feed only other masked convolutions (the inner channels of a
    two-convolution block), those readers' 2D filters on the pruned channels
    are masked too, so export can drop the channels; the PFR counts both.

    Arguments:
        target_pfr: pruned 2D filters / all 2D filters of the binary layers,
            in [0, 1). Filters already masked count; the threshold is the one
            whose PFR comes closest.
        channel_multiple: keep a multiple of this many filters per layer
            (LCE packs input channels 32 at a time and computes output
            channels 8 at a time, so 8 or 32 make the removal pay in full).
        max_layer_fraction: no layer loses more than this fraction of its
            filters (STQ-Nets caps layers to avoid over-pruning).

    Returns a `PruneResult`.
    """
    target_pfr = check_fraction("target_pfr", target_pfr)
    channel_multiple = check_int("channel_multiple", channel_multiple, minimum=1)
    max_layer_fraction = check_fraction("max_layer_fraction", max_layer_fraction)
    scope = _scope(model, layers)
    if not scope:
        raise ValueError(f"{model.name}: no MaskedQuantConv2D layer; give the model masks with tfbin.stq.with_masks")
    norms = _batch_norms(scope, "STQ-A (prune_filters)")
    candidates = [
        _Candidates(model, layer, bn, max_layer_fraction, channel_multiple) for layer, bn in zip(scope, norms)
    ]
    layers = {id(layer): layer for c in candidates for layer in [c.layer, *c.readers]}
    masks = {key: tf.keras.backend.get_value(layer.filter_mask) for key, layer in layers.items()}
    total, pruned_now = _binary_filter_count(model)
    elsewhere = pruned_now - sum(int(np.sum(mask == 0)) for mask in masks.values())
    thresholds = np.unique(np.concatenate([[-np.inf], *[c.gamma for c in candidates]]))

    def reached(index):
        masked = _masks_at(candidates, masks, thresholds[index])
        return (elsewhere + sum(int(np.sum(mask == 0)) for mask in masked.values())) / total

    # The PFR grows with the threshold: bisect for the first one at or over the
    # target, then take it or the one before, whichever comes closer.
    low, high = 0, len(thresholds) - 1
    while low < high:
        middle = (low + high) // 2
        if reached(middle) >= target_pfr:
            high = middle
        else:
            low = middle + 1
    best = low
    if low > 0 and abs(reached(low - 1) - target_pfr) <= abs(reached(low) - target_pfr):
        best = low - 1
    threshold = float(thresholds[best])
    for key, mask in _masks_at(candidates, masks, threshold).items():
        layers[key].filter_mask.assign(mask)
    counts = {c.layer.name: int((~tf.keras.backend.get_value(c.layer.filter_mask).any(axis=0)).sum())
              for c in candidates}
    total, pruned = _binary_filter_count(model)
    return PruneResult(threshold=threshold, pfr=pruned / total, pruned=counts)
