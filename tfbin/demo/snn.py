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
from tfbin import callbacks, cost, subbit, training
from tfbin.zoo import digits_resnet

__all__ = ["ROWS", "TAUS", "row_extras", "train_row"]

ROWS = ("bnn", "irnet_bnn", "snn_tau7", "snn_tau5")
# Bits per 3x3 kernel of each row: 9 (any of the 512 binary kernels) for the BNNs.
TAUS = {"bnn": 9, "irnet_bnn": 9, "snn_tau7": 7, "snn_tau5": 5}
REFINE_EVERY = 25


def _model(name, dataset, width):
    if name == "bnn":
        kwargs = dict(conv="bnn")
    elif name == "irnet_bnn":
        kwargs = dict(conv="irnet")
    else:
        kwargs = dict(conv="snn", tau=TAUS[name])
    return digits_resnet(dataset.input_shape, dataset.num_classes, width=width, **kwargs)


def train_row(name, dataset, epochs, width, verbose):
    model = _model(name, dataset, width)
    extra = []
    if name != "bnn":
        extra.append(callbacks.ErrorDecay())
    if name.startswith("snn"):
        extra.append(callbacks.RefineCodebooks(update_every=REFINE_EVERY))
    history = training.train(model, dataset, epochs, callbacks=extra, verbose=verbose)
    return model, history.history


def row_extras(name, model, history):
    model_cost = cost.model_cost(model)
    return {
        "tau": TAUS[name],
        "subbit_bytes": len(subbit.to_bytes(model)),
        "binary_mbit": model_cost.binary_mbit,
        "shared_bit_ops": int(model_cost.shared_bit_ops),
    }
