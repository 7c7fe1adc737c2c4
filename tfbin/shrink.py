"""Removing what STQ masks prune, before Larq Compute Engine sees the model.

LCE keeps a kernel with a zero in it as a float convolution, and larq's sign
maps 0 to +1, so masked 2D filters (`tfbin.stq.MaskedQuantConv2D`) must
leave the model, not stay as zeros. `remove_masked_filters` (run by
`tfbin.pruning.strip_pruning`, and so by `tfbin.convert.convert`) rebuilds
the model with plain larq `QuantConv2D` layers holding only the live 2D
filters:

- A pruned filter leaves its convolution, and the BatchNormalization that
  alone reads it loses that channel too (LCE still folds it into the
  binary convolution).
- Where the channel goes next decides the rest. When only masked binary
  convolutions read it and their 2D filters on it are masked too (the
  inner channels of a two-convolution block, which `tfbin.stq.prune_filters`
  masks together), the channel is gone: the next convolution has fewer
  input channels and nothing is added. Anything else reading it (a residual
  addition, a model output) gets it back from a `ChannelScatter`: the
  surviving channels in place and, for pruned ones, the constant that the
  masked layer computes there (BatchNorm of zero).
- Filters that keep different input channels (an STQ-B expander mask) are
  split into groups that share input channels: each group becomes a dense
  binary convolution on its channels (`SelectChannels`), and a
  Concatenate joins them. A mask with more than `MAX_GROUPS` such groups
  (for example a different random subset per filter) cannot be shrunk and
  is refused with the layer's name.

```python
import numpy as np
import tfbin
from tfbin import shrink, stq, zoo

model = stq.with_masks(zoo.digits_resnet(width=8, block="basic"))
mask = model.get_layer("stage1_block1_conv1").filter_mask
mask.assign(np.concatenate([np.zeros((8, 4)), np.ones((8, 4))], axis=1).astype("float32"))
model.get_layer("stage1_block1_conv2").filter_mask.assign(np.concatenate([np.zeros((4, 8)), np.ones((4, 8))]).astype("float32"))
small = shrink.remove_masked_filters(model)
small.get_layer("stage1_block1_conv1").filters, small.get_layer("stage1_block1_conv2").kernel.shape
```
"""
import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import graph, stq
from tfbin.registry import register

__all__ = ["MAX_GROUPS", "ChannelScatter", "SelectChannels", "filter_groups", "remove_masked_filters"]

MAX_GROUPS = 16


@register
class SelectChannels(tf.keras.layers.Layer):
    """`x[..., indices]`: a slice when the indices are one ascending run, else a gather."""

    def __init__(self, indices, **kwargs):
        super().__init__(**kwargs)
        self.indices = [int(i) for i in indices]
        if not self.indices or min(self.indices) < 0:
            raise ValueError(f"{self.name}: indices must be a non-empty list of channel indices, got {indices!r}")

    def call(self, inputs):
        start = self.indices[0]
        if self.indices == list(range(start, start + len(self.indices))):
            return inputs[..., start : start + len(self.indices)]
        return tf.gather(inputs, self.indices, axis=-1)

    def get_config(self):
        return {**super().get_config(), "indices": self.indices}


@register
class ChannelScatter(tf.keras.layers.Layer):
    """A wider tensor: output channel k is input channel `positions[k]`, or `fill[k]` where that is -1.

    Puts the filters that survived pruning back in place among constant
    channels (PAD, GATHER and, unless every fill is 0, ADD in TFLite).
    """

    def __init__(self, positions, fill, **kwargs):
        super().__init__(**kwargs)
        self.positions = [int(p) for p in positions]
        self.fill = [float(f) for f in fill]
        if len(self.fill) != len(self.positions):
            raise ValueError(f"{self.name}: positions and fill must have the same length")

    def call(self, inputs):
        width = inputs.shape[-1]
        padding = [[0, 0]] * (inputs.shape.rank - 1) + [[0, 1]]
        index = [p if p >= 0 else width for p in self.positions]
        outputs = tf.gather(tf.pad(inputs, padding), index, axis=-1)
        if any(self.fill):
            outputs = outputs + tf.constant(self.fill, outputs.dtype)
        return outputs

    def get_config(self):
        return {**super().get_config(), "positions": self.positions, "fill": self.fill}


@dataclasses.dataclass
class _Unit:
    """A masked convolution with the BatchNormalization that alone reads it."""

    layer: object
    bn: object
    kept: list  # live filters, ascending
    groups: list  # (input channels, filters) pairs: the filters that keep exactly those channels
    drop: bool  # the pruned filters' channels leave the tensor
    readers: list


def filter_groups(layer, mask):
    """The live filters of `layer` by the input channels they keep: [(channels, filters), ...].

    Ordered by first filter. Raises ValueError naming the layer when there
    are more than `MAX_GROUPS` groups (the mask cannot be shrunk).
    """
    by_rows = {}
    for k in np.flatnonzero(mask.any(axis=0)):
        by_rows.setdefault(tuple(np.flatnonzero(mask[:, k]).tolist()), []).append(int(k))
    if len(by_rows) > MAX_GROUPS:
        raise ValueError(
            f"{layer.name}: its mask cannot be shrunk: the live filters keep {len(by_rows)} different sets of "
            f"input channels (at most {MAX_GROUPS}, each becoming one dense binary convolution); mask whole "
            "filters, whole input channels, or groups of filters sharing input channels (tfbin.stq.expander_mask)"
        )
    return sorted(((rows, outs) for rows, outs in by_rows.items()), key=lambda group: group[1][0])


def _plan(model):
    nested = {id(layer) for layer in stq.masked_layers(model)} - {id(layer) for layer in model.layers}
    if nested:
        names = [layer.name for layer in stq.masked_layers(model) if id(layer) in nested]
        raise ValueError(
            f"{', '.join(names)}: masked layers inside a nested model cannot be shrunk; build {model.name} "
            "as one functional model"
        )
    units = {}
    for layer in model.layers:
        if not isinstance(layer, stq.MaskedQuantConv2D):
            continue
        if graph.consumers(layer) is None:
            raise ValueError(f"{layer.name}: a MaskedQuantConv2D called on several inputs cannot be shrunk")
        mask = tf.keras.backend.get_value(layer.filter_mask)
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"{layer.name}: filter_mask must hold only 0 and 1 to be shrunk")
        live = mask.any(axis=0)
        kept = np.flatnonzero(live).tolist()
        if not kept:
            raise ValueError(f"{layer.name}: every filter is masked; nothing of it can be exported")
        readers = stq.channel_readers(model, layer)
        pruned = np.flatnonzero(~live)
        drop = bool(
            len(pruned)
            and readers
            and not any(tf.keras.backend.get_value(r.filter_mask)[pruned].any() for r in readers)
        )
        units[id(layer)] = _Unit(layer, stq.filter_batch_norm(layer), kept, filter_groups(layer, mask), drop, readers)
    inputs = {}  # id(reader) -> the input channels it still receives
    for unit in units.values():
        if unit.drop:
            for reader in unit.readers:
                inputs[id(reader)] = unit.kept
    return units, inputs


def _constants(unit):
    """What the masked layer (and its BatchNorm) outputs on every channel whose filter is zero."""
    layer = unit.layer
    value = np.zeros(layer.filters, np.float32)
    if layer.use_bias:
        value = value + tf.keras.backend.get_value(layer.bias)
    if layer.activation is not None:
        value = tf.keras.backend.get_value(layer.activation(tf.constant(value)))
    if unit.bn is not None:
        bn = unit.bn
        scale = tf.keras.backend.get_value(bn.gamma) if bn.scale else 1.0
        shift = tf.keras.backend.get_value(bn.beta) if bn.center else 0.0
        inv_std = 1.0 / np.sqrt(tf.keras.backend.get_value(bn.moving_variance) + bn.epsilon)
        value = (value - tf.keras.backend.get_value(bn.moving_mean)) * inv_std * scale + shift
    return np.asarray(value, np.float32)


def _replacement(unit, received):
    """The layers that compute `unit` with only its live 2D filters, as one callable."""
    layer, bn = unit.layer, unit.bn
    config = layer.quant_conv_config()
    latent = tf.keras.backend.get_value(layer.kernel.latent_variable)
    bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
    bn_weights = bn.get_weights() if bn is not None else None
    channels = list(range(latent.shape[2])) if received is None else list(received)
    position = {c: i for i, c in enumerate(channels)}
    single = len(unit.groups) == 1
    parts = []
    for g, (rows, outs) in enumerate(unit.groups):
        suffix = "" if single else f"_g{g}"
        index = [position[r] for r in rows]
        select = None if index == list(range(len(channels))) else SelectChannels(index, name=f"{layer.name}_in{suffix}")
        conv = lq.layers.QuantConv2D.from_config({**config, "filters": len(outs), "name": layer.name + suffix})
        norm = None
        if bn is not None:
            norm = tf.keras.layers.BatchNormalization.from_config({**bn.get_config(), "name": bn.name + suffix})
        kernel = latent[:, :, list(rows)][..., outs]
        weights = [kernel] if bias is None else [kernel, bias[outs]]
        parts.append((select, conv, weights, norm, outs))
    order = [k for *_, outs in parts for k in outs]
    concat = None if single else tf.keras.layers.Concatenate(name=f"{layer.name}_concat")
    last = bn.name if bn is not None else layer.name
    reorder = None
    if order != unit.kept:
        where = {k: i for i, k in enumerate(order)}
        reorder = SelectChannels([where[k] for k in unit.kept], name=f"{last}_order")
    scatter = None
    if len(unit.kept) < layer.filters and not unit.drop:
        where = {k: i for i, k in enumerate(unit.kept)}
        constants = _constants(unit)
        positions = [where.get(k, -1) for k in range(layer.filters)]
        fill = [0.0 if p >= 0 else float(constants[k]) for k, p in enumerate(positions)]
        scatter = ChannelScatter(positions, fill, name=f"{last}_scatter")

    def apply(inputs):
        outputs = []
        for select, conv, weights, norm, outs in parts:
            y = conv(select(inputs) if select is not None else inputs)
            conv.set_weights(weights)
            if norm is not None:
                y = norm(y)
                norm.set_weights([w[outs] for w in bn_weights])
            outputs.append(y)
        y = concat(outputs) if concat is not None else outputs[0]
        if reorder is not None:
            y = reorder(y)
        return scatter(y) if scatter is not None else y

    return apply


def remove_masked_filters(model):
    """A copy of `model` without masked 2D filters (see the module notes); `model` itself when it has no masks.

    Every `MaskedQuantConv2D` becomes one larq `QuantConv2D` (one per group
    of filters sharing input channels) with only its live 2D filters; the
    copy computes what `model` computes, up to float rounding. Raises
    ValueError naming the layer when a mask cannot be shrunk.
    """
    if not stq.masked_layers(model):
        return model
    units, inputs = _plan(model)
    absorbed = {id(unit.bn) for unit in units.values() if unit.bn is not None}

    def replace(layer):
        unit = units.get(id(layer))
        if unit is not None:
            return _replacement(unit, inputs.get(id(layer)))
        if id(layer) in absorbed:
            return lambda inputs, **kwargs: inputs
        return None

    return graph.rewrite(model, replace)
