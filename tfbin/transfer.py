"""Initialise a binary network from a trained full-precision network of the same architecture.

PaBT starts its multi-base networks from pre-trained full-precision weights:
each `MultiBaseConv2D` gets ABC-Net bases B_m = sign(W - mean + u_m std) and
least-squares alphas from the matching float convolution; every other layer
(stem, BatchNorm, shortcuts, classifier) takes the float layer's weights.

The BatchNorm statistics of the float network do not describe the binary
one (its activations are signs of shifted inputs, its convolutions sums of
+-1 products), so after copying they must be re-estimated on training data
before the binary network trains or is evaluated. `pretrain_float` does the
whole recipe: build the float twin of a binary model, train it, copy it in,
re-estimate the statistics.

```python
import tfbin
from tfbin import data, training, transfer, zoo

digits = data.digits_arrays()
mbn = zoo.digits_resnet(width=8, conv="mbn", weight_bases=3, activation_bases=3)
float_model, history = transfer.pretrain_float(mbn, digits, epochs=1, verbose=0)
training.train(mbn, digits, epochs=1, verbose=0)    # Bop from the float initialisation

float_model = zoo.digits_resnet(width=8, conv="float")   # or by hand, from your own float net
transfer.init_from_float(mbn, float_model)
```
"""
import larq as lq
import tensorflow as tf

from tfbin import batchnorm, graph, training
from tfbin.layers import MultiBaseConv2D
from tfbin.validation import check_int

__all__ = ["float_twin", "init_from_float", "pretrain_float"]


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def init_from_float(model, float_model):
    """Copies `float_model`'s weights into `model`, layer by layer, in place.

    Layers are paired in order among those that have weights. Raises
    ValueError naming the first pair that does not match.
    """
    targets, sources = _weighted_layers(model), _weighted_layers(float_model)
    if len(targets) != len(sources):
        raise ValueError(
            f"models differ in architecture: {model.name!r} has {len(targets)} layers with weights, "
            f"{float_model.name!r} has {len(sources)}"
        )
    for target, source in zip(targets, sources):
        if isinstance(target, MultiBaseConv2D):
            if not hasattr(source, "kernel"):
                raise ValueError(f"{target.name}: the float layer {source.name!r} has no kernel")
            target.set_from_real_kernel(tf.keras.backend.get_value(source.kernel))
            if target.use_bias and getattr(source, "use_bias", False):
                target.bias.assign(source.bias)
            continue
        source_weights = source.get_weights()
        shapes = [w.shape for w in target.get_weights()]
        if shapes != [w.shape for w in source_weights]:
            raise ValueError(
                f"{target.name}: weight shapes {shapes} do not match {source.name!r} "
                f"{[w.shape for w in source_weights]}"
            )
        target.set_weights(source_weights)
    return model


def float_twin(model):
    """A float network of `model`'s architecture: every binary convolution becomes a `Conv2D`.

    `MultiBaseConv2D` and larq `QuantConv2D` layers are replaced by Keras
    `Conv2D` layers of the same filters, kernel size, strides, padding,
    dilation, bias and activation (He-normal initialised); every other layer
    is copied with its weights. `init_from_float` pairs the two layer by
    layer.
    """

    def replace(layer):
        if not isinstance(layer, lq.layers.QuantConv2D):
            return None
        return tf.keras.layers.Conv2D(
            layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
            dilation_rate=layer.dilation_rate, activation=layer.activation, use_bias=layer.use_bias,
            kernel_initializer="he_normal", name=layer.name,
        )

    return graph.rewrite(model, replace)


def pretrain_float(model, dataset, epochs, optimizer=None, batch_size=64, statistics_batches=8,
                   statistics_batch_size=256, verbose=1):
    """Full-precision initialisation of the binary `model`, in place: PaBT's starting point.

    Trains `float_twin(model)` on `dataset` (a `tfbin.data.Arrays` or
    `Dataset`) for `epochs` with `tfbin.training.train` (Adam, or
    `optimizer`), copies it into `model` with `init_from_float`, and
    re-estimates `model`'s BatchNorm statistics on the training split
    (`tfbin.batchnorm.reestimate_statistics`): the float network's statistics
    do not fit binary activations. Then train `model` as usual (Bop).
    Returns `(float_model, history)`; the float model's statistics are
    re-estimated too.
    """
    check_int("epochs", epochs, minimum=1)
    float_model = float_twin(model)
    history = training.train(float_model, dataset, epochs, optimizer=optimizer, batch_size=batch_size,
                             verbose=verbose)
    statistics = dict(batches=statistics_batches, batch_size=statistics_batch_size)
    batchnorm.reestimate_statistics(float_model, dataset, **statistics)  # few float epochs leave them unsettled
    init_from_float(model, float_model)
    batchnorm.reestimate_statistics(model, dataset, **statistics)
    return float_model, history
