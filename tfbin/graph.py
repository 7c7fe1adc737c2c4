"""Rebuilding a functional Keras model layer by layer.

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

__all__ = ["consumers", "is_graph_network", "rewrite"]


def is_graph_network(model):
    """A functional or Sequential model: one whose layer graph can be walked."""
    return bool(getattr(model, "_is_graph_network", False))


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


def rewrite(model, replace):
    """Rebuilds a functional or Sequential model, layer by layer.

    `replace(layer)` returns a callable applied to the layer's inputs in its
    place, or None to keep (a copy of) the layer. The new model shares no
    layers or weights with `model`.
    """
    if not is_graph_network(model):
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
        return tf.nest.map_structure(lambda t: tensors[id(t)] if id(t) in tensors else t, structure)

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
