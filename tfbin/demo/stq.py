"""The STQ-Nets demo: a BNN against its structured ternary versions at half the 2D filters.

Rows (the same residual BNN of two-convolution blocks, `tfbin.zoo` with
`block="basic"`, same epochs, Bop + Adam):

- `bnn`: the plain 1-bit network (larq `QuantConv2D`);
- `stq_a`: STQ-A: L1 penalty 1e-4 on the BatchNorm scales, at mid-run one
  global |gamma| threshold prunes filters to PFR 0.5
  (`tfbin.callbacks.PruneFilters`), the rest of the run fine-tunes;
- `stq_b`: STQ-B: fixed expander masks from the start, compression 2
  (every filter keeps half of its input channels: PFR 0.5).

Each report row has the usual keys plus `pfr`; the converted STQ models have
their pruned filters physically removed (`tfbin.shrink`).

```python
from tfbin.demo import stq
stq.phases(12)            # STQ-A fine-tunes from epoch 6 on
```
"""
from tfbin import callbacks, cost, stq, training
from tfbin.zoo import digits_resnet

__all__ = ["L1_STRENGTH", "ROWS", "TARGET_PFR", "build_model", "phases", "row_extras", "stq_callbacks", "train_row"]

ROWS = ("bnn", "stq_a", "stq_b")
TARGET_PFR = 0.5
L1_STRENGTH = 1e-4


def phases(epochs):
    """STQ-A trains with the L1 penalty for the first half, then prunes and fine-tunes."""
    start = max(1, epochs // 2) if epochs > 1 else 0
    return {"start_epoch": start, "end_epoch": epochs, "label": "STQ-A fine-tuning"}


def build_model(name, input_shape, num_classes, width, seed=0):
    """The row's network: the BNN, or with masks (STQ-A: all live and an L1 penalty; STQ-B: expander masks)."""
    net = digits_resnet(input_shape, num_classes, width=width, conv="bnn", block="basic")
    if name == "stq_a":
        net = stq.with_masks(net)
        stq.add_gamma_l1(net, L1_STRENGTH)
    elif name == "stq_b":
        net = stq.with_masks(net, expander_compression=round(1 / (1 - TARGET_PFR)), seed=seed)
    return net


def stq_callbacks(name, epochs):
    """STQ-A's pruning callback (nothing for the other rows)."""
    if name != "stq_a":
        return []
    return [callbacks.PruneFilters(TARGET_PFR, epoch=phases(epochs)["start_epoch"])]


def train_row(name, dataset, epochs, width, verbose):
    net = build_model(name, dataset.input_shape, dataset.num_classes, width)
    history = training.train(net, dataset, epochs, callbacks=stq_callbacks(name, epochs), verbose=verbose)
    return net, history.history


def row_extras(name, model, history):
    return {"pfr": float(cost.model_cost(model).pfr or 0.0)}
