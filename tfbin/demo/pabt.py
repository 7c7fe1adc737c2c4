"""The PaBT demo (the default): multi-base convolutions and pruning them down to a 1-bit BNN.

Rows (all the same residual architecture, same epochs, Bop + Adam):

- `bnn`: 1-bit network trained directly: `MultiBaseConv2D` with one weight and
  one activation base (a larq binary convolution with a learned activation
  threshold and scales), the architecture PaBT ends in;
- `bnn_int8`: the trained `bnn` converted with its float layers (stem,
  downsampling shortcut, classifier) in int8 (`float_layers="int8"`): its
  accuracy is the int8 flatbuffer's, its latency next to the float-stem `bnn`;
- `larq_quantconv`: the classic larq BNN (plain `QuantConv2D`, sign
  activations, no scales);
- `mbn_3x3`: multi-base network, 3 weight x 3 activation bases, unpruned;
- `pabt_3x3_to_1x1`: the same 3/3 network pruned by `PruneToBinary` during
  training (warm-up, pruning, fine-tuning) down to one binary convolution per
  layer: the same cost as `bnn`. Its report row adds `pabt_max_drop` and
  `pabt_max_fall`, the largest falls of test accuracy during pruning below its
  value before pruning and below its best value since.

Every row re-estimates its BatchNorm statistics on the training split at the
end of each epoch and of training (`tfbin.training.train`'s default).

```python
from tfbin.demo import pabt
pabt.phases(12)   # the pruning phase of a 12-epoch run
```
"""
from tfbin import callbacks, training
from tfbin.zoo import digits_resnet

__all__ = ["INT8_ROWS", "ROWS", "phases", "prune_callback", "row_extras", "train_row"]

ROWS = ("bnn", "bnn_int8", "larq_quantconv", "mbn_3x3", "pabt_3x3_to_1x1")
# Rows that are another row's trained model with int8 float layers (no training of their own).
INT8_ROWS = {"bnn_int8": "bnn"}


def phases(epochs):
    """PaBT's pruning phase: `PruneToBinary.for_epochs`' default (short warm-up, long fine-tuning)."""
    prune = prune_callback(epochs, statistics_data=None)
    return {"start_epoch": prune.start_epoch, "end_epoch": prune.end_epoch, "label": "PaBT pruning"}


def prune_callback(epochs, statistics_data, seed=0):
    """`PruneToBinary.for_epochs(epochs)` with its defaults, re-estimating statistics on `statistics_data`.

    A one-epoch run has no room for warm-up: it prunes during its only epoch
    (and has no smoothness reference).
    """
    if epochs < 2:
        return callbacks.PruneToBinary(0, 1, seed=seed, statistics_data=statistics_data)
    return callbacks.PruneToBinary.for_epochs(epochs, seed=seed, statistics_data=statistics_data)


def row_extras(name, model, history):
    """The PaBT row's smoothness: its largest test accuracy drops during pruning (`pabt_max_drop`, `pabt_max_fall`)."""
    return {key: float(history[key][-1]) for key in ("pabt_max_drop", "pabt_max_fall") if key in history}


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
    if verbose and "pabt_max_drop" in history.history:
        print(f"{name}: largest test accuracy drop during pruning: "
              f"{100 * history.history['pabt_max_drop'][-1]:.1f} pp below its value before pruning, "
              f"{100 * history.history['pabt_max_fall'][-1]:.1f} pp below its best")
    return model, history.history
