"""The sub-bit demo: a BNN, an IR-Net BNN and sub-bit networks (SNN) at two tau.

Rows (the same residual architecture, the same epochs):

- `bnn`: the larq BNN (`QuantConv2D`, sign activations and kernels), Bop + Adam;
- `irnet_bnn`: IR-Net's binarization (`LibraSign` kernels, `ErrorDecaySign`
  activations), real latent weights trained by Adam, t raised by `ErrorDecay`;
- `snn_tau7`, `snn_tau5`: `SubBitConv2D` with 7 and 5 bits per 3x3 kernel
  (0.78 and 0.56 bits per weight), trained like the IR-Net BNN, codebooks
  refined by `RefineCodebooks` every 25 steps.

Every row also reports `tau` (bits per 3x3 kernel; 9 for the BNNs) and
`subbit_bytes`, the size of the model in the compact format of `tfbin.subbit`
(next to `size_bytes`, the LCE flatbuffer, which stores every binary weight
in 1 bit).

```python
from tfbin.demo import snn
snn.ROWS, snn.TAUS["snn_tau5"]
```
"""
import collections
import functools

from tfbin import callbacks, cost, subbit, training
from tfbin.zoo import digits_resnet

__all__ = ["ROWS", "TAUS", "row_extras", "train_row"]

# Bits per 3x3 kernel of each row: 9 (any of the 512 binary kernels) for the BNNs.
TAUS = {"bnn": 9, "irnet_bnn": 9, "snn_tau7": 7, "snn_tau5": 5}
REFINE_EVERY = 25

_ERROR_DECAY = callbacks.ErrorDecay
_REFINE_CODEBOOKS = functools.partial(callbacks.RefineCodebooks, update_every=REFINE_EVERY)
# Each row's network (the zoo's arguments) and what makes its callbacks, anew for every run:
# IR-Net's estimator schedule where the convolutions use ErrorDecaySign, and codebook
# refinement for the sub-bit ones.
_Row = collections.namedtuple("_Row", ["network", "callbacks"])
_ROWS = {
    "bnn": _Row(dict(conv="bnn"), ()),
    "irnet_bnn": _Row(dict(conv="irnet"), (_ERROR_DECAY,)),
    "snn_tau7": _Row(dict(conv="snn", tau=TAUS["snn_tau7"]), (_ERROR_DECAY, _REFINE_CODEBOOKS)),
    "snn_tau5": _Row(dict(conv="snn", tau=TAUS["snn_tau5"]), (_ERROR_DECAY, _REFINE_CODEBOOKS)),
}
ROWS = tuple(_ROWS)


def train_row(name, dataset, epochs, width, verbose):
    row = _ROWS[name]
    model = digits_resnet(dataset.input_shape, dataset.num_classes, width=width, **row.network)
    history = training.train(model, dataset, epochs, callbacks=[make() for make in row.callbacks], verbose=verbose)
    return model, history.history


def row_extras(name, model, history):
    model_cost = cost.model_cost(model)
    return {
        "tau": TAUS[name],
        "subbit_bytes": len(subbit.to_bytes(model)),
        "binary_mbit": model_cost.binary_mbit,
        "shared_bit_ops": int(model_cost.shared_bit_ops),
    }
