"""Initialise a binary network from a trained full-precision network of the same architecture.

PaBT starts its multi-base networks from pre-trained full-precision weights:
each `MultiBaseConv2D` gets ABC-Net bases B_m = sign(W - mean + u_m std) and
least-squares alphas from the matching float convolution; every other layer
(stem, BatchNorm, shortcuts, classifier) takes the float layer's weights.

```python
import tfbin
from tfbin import transfer, zoo

float_model = zoo.digits_resnet(conv="float")      # ... train it first
mbn = zoo.digits_resnet(conv="mbn", weight_bases=3, activation_bases=3)
transfer.init_from_float(mbn, float_model)
```
"""
import tensorflow as tf

from tfbin.layers import MultiBaseConv2D

__all__ = ["init_from_float"]


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
