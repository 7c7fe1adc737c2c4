"""Strip training-only structure: multi-base convolutions become plain larq `QuantConv2D`s.

Each live binary convolution (m, n) of a `MultiBaseConv2D` becomes one
`lq.layers.QuantConv2D` with input quantizer `ShiftedSign(v_n)` and kernel
B_m scaled per output channel by its coefficient gamma_mn * alpha_m * beta_n
(a kernel of +-scale per channel is what Larq Compute Engine turns into one
`LceBconv2d`, folding the scale into its output multiplier). Several live
convolutions are summed by an `Add`; pruned convolutions, dead bases, masks
and importance scores are gone. A pruned-to-binary layer becomes exactly one
`QuantConv2D` that keeps the layer's name.

```python
import tfbin
from tfbin import zoo

model = zoo.digits_resnet(conv="mbn", weight_bases=2, activation_bases=2)
plain = tfbin.export.strip(model)   # same outputs, only larq/Keras layers
```
"""
import larq as lq
import numpy as np
import tensorflow as tf

from tfbin.layers import MultiBaseConv2D
from tfbin.quantizers import ShiftedSign

__all__ = ["strip", "rewrite"]


def _copy_layer(layer):
    clone = layer.__class__.from_config(layer.get_config())
    return clone, layer.get_weights()


def rewrite(model, replace):
    """Rebuilds a functional or Sequential model, layer by layer.

    `replace(layer)` returns a callable applied to the layer's inputs in its
    place, or None to keep (a copy of) the layer. The new model shares no
    layers or weights with `model`.
    """
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(
            f"{model.name}: only functional and Sequential models can be rewritten "
            "(subclassed models have no layer graph); build the model with the functional API"
        )
    new_inputs = [
        tf.keras.Input(batch_shape=t.shape, dtype=t.dtype, name=layer.name)
        for t, layer in zip(model.inputs, model._input_layers)
    ]
    tensors = {id(old): new for old, new in zip(model.inputs, new_inputs)}

    def mapped(structure):
        return tf.nest.map_structure(
            lambda t: tensors[id(t)] if id(t) in tensors else t, structure
        )

    pending_weights = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, tf.keras.layers.InputLayer):
                continue
            replacement = replace(layer)
            if replacement is None:
                replacement, weights = _copy_layer(layer)
                pending_weights.append((replacement, weights))
            outputs = replacement(*mapped(node.call_args), **mapped(node.call_kwargs))
            for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)):
                tensors[id(old)] = new
    for layer, weights in pending_weights:
        layer.set_weights(weights)
    outputs = [tensors[id(t)] for t in model.outputs]
    return tf.keras.Model(new_inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def _stripped_conv(layer, name, kernel, threshold, bias):
    conv = lq.layers.QuantConv2D(
        layer.filters,
        layer.kernel_size,
        strides=layer.strides,
        padding=layer.padding,
        pad_values=layer.pad_values,
        dilation_rate=layer.dilation_rate,
        use_bias=bias is not None,
        input_quantizer=ShiftedSign(threshold, clip_value=layer.input_quantizer.clip_value),
        name=name,
    )
    conv.build((None, None, None, kernel.shape[2]))
    conv.set_weights([kernel] if bias is None else [kernel, bias])
    return conv


def _foldable_batch_norm(layer):
    """The BatchNormalization that alone reads `layer`'s output, when it can fold into it."""
    if len(layer._inbound_nodes) != 1 or len(layer._outbound_nodes) != 1:
        return None
    consumer = layer._outbound_nodes[0].layer
    if (
        not isinstance(consumer, tf.keras.layers.BatchNormalization)
        or list(consumer.axis) not in ([3], [-1])
        or layer.activation is not tf.keras.activations.linear
    ):
        return None
    return consumer


def _batch_norm_affine(bn):
    """(scale, shift) per channel of an inference-mode BatchNormalization."""
    scale = tf.keras.backend.get_value(bn.gamma) if bn.scale else 1.0
    shift = tf.keras.backend.get_value(bn.beta) if bn.center else 0.0
    inv_std = 1.0 / np.sqrt(tf.keras.backend.get_value(bn.moving_variance) + bn.epsilon)
    scale = scale * inv_std
    return scale, shift - tf.keras.backend.get_value(bn.moving_mean) * scale


def _strip_multi_base(layer, batch_norm=None):
    pairs = layer.live_pairs()
    if not pairs:
        raise ValueError(f"{layer.name}: every binary convolution is pruned; nothing to export")
    coefficients = tf.keras.backend.get_value(layer.coefficients())  # (N, M, F)
    thresholds = tf.keras.backend.get_value(layer.thresholds)
    bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
    if batch_norm is not None:
        # BN(sum_i conv_i + b) = sum_i conv_i * s + (b s + t): each kernel stays
        # +-scale per channel, so LCE still makes LceBconv2d ops, and the
        # elementwise multiply and add of the BatchNormalization disappear.
        scale, shift = _batch_norm_affine(batch_norm)
        coefficients = coefficients * scale
        bias = (0.0 if bias is None else bias) * scale + shift
    convs = []
    for i, (m, n) in enumerate(pairs):
        kernel = (layer.weight_base(m) * coefficients[n, m]).astype(np.float32)
        name = layer.name if len(pairs) == 1 else f"{layer.name}_w{m}a{n}"
        first_bias = None if bias is None or i else np.asarray(bias, np.float32)
        convs.append(_stripped_conv(layer, name, kernel, thresholds[n], first_bias))
    add = tf.keras.layers.Add(name=f"{layer.name}_sum") if len(convs) > 1 else None
    activation = (
        tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
        if layer.activation is not tf.keras.activations.linear
        else None
    )

    def apply(inputs):
        outputs = [conv(inputs) for conv in convs]
        y = add(outputs) if add else outputs[0]
        return activation(y) if activation else y

    return apply


def strip(model):
    """A copy of `model` in which every `MultiBaseConv2D` is plain larq `QuantConv2D`s.

    The copy computes the same function (up to float rounding) and contains
    only the live binary convolutions. A BatchNormalization that alone reads
    a layer with several live convolutions is folded into their kernels and
    bias (LCE folds it by itself after a single binary convolution).
    """
    folded = set()

    def replace(layer):
        if isinstance(layer, MultiBaseConv2D):
            batch_norm = _foldable_batch_norm(layer) if len(layer.live_pairs()) > 1 else None
            if batch_norm is not None:
                folded.add(id(batch_norm))
            return _strip_multi_base(layer, batch_norm)
        if id(layer) in folded:
            return lambda inputs, **kwargs: inputs
        return None

    return rewrite(model, replace)
