"""Walking and rebuilding a functional Keras model layer by layer.

`strip_pruning`, the converter's baselines and its parity floor all copy a
model with some layers replaced. tf.keras has no public API for walking a
functional model's layer graph node by node, so this module reads its
private attributes (`_nodes_by_depth`, `node.call_args`, `_inbound_nodes`,
`_outbound_nodes`); it is the only module of tfbin that does, and
tests/test_graph.py pins each of them, so a Keras upgrade that moves them
fails there first.

```python
import tfbin
import tensorflow as tf
from tfbin import graph

inputs = tf.keras.Input((4,))
model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="head")(inputs))

def replace(layer):      # swap the Dense for a ReLU; None keeps (a copy of) a layer
    return tf.keras.layers.ReLU() if layer.name == "head" else None

copy = graph.rewrite(model, replace)
[layer.name for layer in copy.layers]
```
"""
import tensorflow as tf

__all__ = ["consumers", "evaluate", "is_graph_network", "rewrite"]


def is_graph_network(model):
    """A functional or Sequential model: one whose layer graph can be walked."""
    return bool(getattr(model, "_is_graph_network", False))


def _require_graph_network(model):
    if not is_graph_network(model):
        raise ValueError(
            f"{model.name}: only functional and Sequential models can be rewritten or converted "
            "(subclassed models have no layer graph); build the model with the functional API"
        )


def consumers(layer):
    """The layers that read `layer`'s output, or None when `layer` is called more than once.

    A layer called on several inputs (shared) has several output tensors and
    no single set of consumers.
    """
    if len(layer._inbound_nodes) != 1:
        return None
    return [node.layer for node in layer._outbound_nodes]


def _copy_layer(layer):
    clone = layer.__class__.from_config(layer.get_config())
    return clone, layer.get_weights()


def evaluate(model, inputs, apply):
    """Runs a functional or Sequential model's layer calls in order on values of the caller's kind.

    `inputs` holds one value per model input; `apply(layer, *args, **kwargs)`
    gets each layer call's arguments with every Keras tensor replaced by the
    value computed for it, and returns the call's outputs (the same structure
    as the layer's). Returns the values of `model.outputs`, in order. This is
    how a model is rebuilt (`rewrite`) or translated into another framework's
    graph (`tfbin.convert.openvino_converter`).
    """
    _require_graph_network(model)
    values = {id(t): v for t, v in zip(model.inputs, inputs)}

    def mapped(structure):
        return tf.nest.map_structure(lambda t: values[id(t)] if id(t) in values else t, structure)

    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if isinstance(node.layer, tf.keras.layers.InputLayer):
                continue
            outputs = apply(node.layer, *mapped(node.call_args), **mapped(node.call_kwargs))
            for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)):
                values[id(old)] = new
    return [values[id(t)] for t in model.outputs]


def rewrite(model, replace):
    """Rebuilds a functional or Sequential model, layer by layer.

    `replace(layer)` returns a callable applied to the layer's inputs in its
    place, or None to keep (a copy of) the layer. The new model shares no
    layers or weights with `model`.
    """
    _require_graph_network(model)
    new_inputs = [
        tf.keras.Input(batch_shape=t.shape, dtype=t.dtype, name=layer.name)
        for t, layer in zip(model.inputs, model._input_layers)
    ]
    pending_weights = []

    def apply(layer, *args, **kwargs):
        replacement = replace(layer)
        if replacement is None:
            replacement, weights = _copy_layer(layer)
            pending_weights.append((replacement, weights))
        return replacement(*args, **kwargs)

    outputs = evaluate(model, new_inputs, apply)
    for layer, weights in pending_weights:
        layer.set_weights(weights)
    return tf.keras.Model(new_inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
