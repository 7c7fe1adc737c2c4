"""The PaBT demo (the default): multi-base convolutions and pruning them down to a 1-bit BNN.

Rows (all the same residual architecture, same epochs, Bop + Adam):

- `bnn`: 1-bit network trained directly: `MultiBaseConv2D` with one weight and
  one activation base (a larq binary convolution with a learned activation
  threshold and scales), the architecture PaBT ends in;
- `larq_quantconv`: the classic larq BNN (plain `QuantConv2D`, sign
  activations, no scales);
- `mbn_3x3`: multi-base network, 3 weight x 3 activation bases, unpruned;
- `pabt_3x3_to_1x1`: the same 3/3 network pruned by `PruneToBinary` during
  training (warm-up, pruning, fine-tuning) down to one binary convolution per
  layer: the same cost as `bnn`.

```python
from tfbin.demo import pabt
pabt.phases(12)   # the pruning phase of a 12-epoch run
```
"""
from tfbin import callbacks, training
from tfbin.zoo import digits_resnet

__all__ = ["ROWS", "phases", "prune_callback", "train_row"]

ROWS = ("bnn", "larq_quantconv", "mbn_3x3", "pabt_3x3_to_1x1")


def phases(epochs):
    """PaBT's pruning phase: ~15% warm-up, prune until ~60% of the run, fine-tune the rest."""
    start = int(round(0.15 * epochs))
    end = min(max(start + 1, int(round(0.6 * epochs))), epochs)
    return {"start_epoch": start, "end_epoch": end, "label": "PaBT pruning"}


def prune_callback(epochs, statistics_data, seed=0):
    """PruneToBinary over `phases(epochs)` with its defaults, re-estimating statistics on `statistics_data`."""
    phase = phases(epochs)
    return callbacks.PruneToBinary(phase["start_epoch"], phase["end_epoch"], seed=seed,
                                   statistics_data=statistics_data)


def _model(name, dataset, width):
    kinds = {
        "bnn": dict(conv="mbn", weight_bases=1, activation_bases=1),
        "larq_quantconv": dict(conv="bnn"),
        "mbn_3x3": dict(conv="mbn", weight_bases=3, activation_bases=3),
        "pabt_3x3_to_1x1": dict(conv="mbn", weight_bases=3, activation_bases=3),
    }
    return digits_resnet(dataset.input_shape, dataset.num_classes, width=width, **kinds[name])


def train_row(name, dataset, epochs, width, verbose):
    model = _model(name, dataset, width)
    extra = []
    if name == "pabt_3x3_to_1x1":
        extra = [prune_callback(epochs, dataset.train)]
    history = training.train(model, dataset, epochs, callbacks=extra, verbose=verbose)
    return model, history.history
