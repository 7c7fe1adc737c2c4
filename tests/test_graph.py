"""tfbin.graph is the one place that reads tf.keras' private layer-graph attributes: pin them here."""
import numpy as np
import pytest
import tensorflow as tf

from tfbin import graph, zoo


def residual_model():
    inputs = tf.keras.Input((6, 6, 3))
    x = tf.keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    y = tf.keras.layers.BatchNormalization(name="bn")(x)
    z = tf.keras.layers.Add(name="add")([y, x])
    return tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="head")(tf.keras.layers.Flatten()(z)))


def test_private_attributes_graph_relies_on_are_there():
    model = residual_model()
    assert graph.is_graph_network(model)
    assert model._nodes_by_depth and model._input_layers
    node = model.get_layer("add")._inbound_nodes[0]
    assert isinstance(node.call_args, tuple) and isinstance(node.call_kwargs, dict)
    assert [n.layer.name for n in model.get_layer("bn")._outbound_nodes] == ["add"]


def test_rewrite_without_replacements_copies_the_function_and_shares_nothing():
    model = zoo.digits_resnet(width=8)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype(np.float32)
    copy = graph.rewrite(model, lambda layer: None)
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not {id(w) for w in copy.weights} & {id(w) for w in model.weights}
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]


def test_rewrite_replaces_a_layer_where_it_stands():
    model = residual_model()
    copy = graph.rewrite(model, lambda layer: tf.keras.layers.ReLU(name="relu") if layer.name == "bn" else None)
    names = [layer.name for layer in copy.layers]
    assert "bn" not in names and "relu" in names
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    conv = copy.get_layer("conv")(x)
    expected = copy.get_layer("head")(tf.keras.layers.Flatten()(tf.nn.relu(conv) + conv))
    np.testing.assert_allclose(copy.predict(x, verbose=0), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_consumers_of_a_layer_and_of_a_shared_one():
    model = residual_model()
    assert [layer.name for layer in graph.consumers(model.get_layer("conv"))] == ["bn", "add"]
    shared = tf.keras.layers.Dense(3)
    a, b = tf.keras.Input((3,)), tf.keras.Input((3,))
    tf.keras.Model([a, b], [shared(a), shared(b)])
    assert graph.consumers(shared) is None


def test_subclassed_models_are_refused_with_the_reason():
    class Net(tf.keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional API"):
        graph.rewrite(Net(), lambda layer: None)


def test_evaluate_runs_the_layer_calls_in_order_on_any_values():
    model = residual_model()
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    order = []

    def apply(layer, *args, **kwargs):
        order.append(layer.name)
        return layer(*args)

    (outputs,) = graph.evaluate(model, [tf.constant(x)], apply)
    np.testing.assert_allclose(outputs.numpy(), model(x).numpy(), rtol=1e-6)
    assert order.index("conv") < order.index("bn") < order.index("add") < order.index("head")
    # Values need not be tensors: count the layers on the path to each output.
    assert graph.evaluate(model, [0], lambda layer, *args, **kwargs: max(tf.nest.flatten(args)) + 1) == [5]
