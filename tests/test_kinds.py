"""A convolution kind defined in this file alone goes through the zoo, the cost model, export, conversion and recipes."""
import dataclasses

import numpy as np
import pytest

import tfbin
import larq as lq
import tensorflow as tf
from tfbin import convert, cost, data, kinds, methods, pruning, recipes, zoo
from tfbin.recipes.catalog import Recipe


@tf.keras.utils.register_keras_serializable(package="tfbin_test")
class DoubledConv2D(lq.layers.QuantConv2D):
    """A binary convolution whose outputs are doubled: a training-time layer no tfbin module knows."""

    def call(self, inputs):
        return 2.0 * super().call(inputs)


def _build(input_quantizer, **kwargs):
    return DoubledConv2D(input_quantizer=input_quantizer, kernel_quantizer="ste_sign",
                         kernel_constraint="weight_clip", pad_values=1.0, **kwargs)


def _cost(layer):
    weights = int(np.prod(layer.kernel.shape))
    pixels = int(np.prod(layer.output_shape[1:-1]))
    return cost.LayerCost(name=layer.name, kind="doubled", bit_ops=weights * pixels, flops=0,
                          binary_params=weights, float_params=0, weight_bits=1, activation_bits=1)


def _export(layer, context):
    # The doubling folds into the kernel: +-2 per output channel is still a binary kernel to LCE.
    kernel = 2.0 * np.where(tf.keras.backend.get_value(layer.kernel) >= 0, 1.0, -1.0).astype(np.float32)
    config = {**layer.get_config(), "kernel_quantizer": None, "kernel_constraint": None}
    plain = lq.layers.QuantConv2D.from_config(config)
    return context.with_weights(plain, [kernel])


class CountEpochs(tf.keras.callbacks.Callback):
    """The toy method's callback: how many epochs it saw. Every one made is kept in `made`."""

    made = []

    def __init__(self):
        super().__init__()
        self.epochs = 0
        CountEpochs.made.append(self)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def _optimizer(recipe, epochs, steps_per_epoch, learning_rate):
    return tf.keras.optimizers.legacy.SGD(learning_rate, momentum=recipe.optimizer["momentum"])


def _callbacks(recipe, epochs, train_data, single_replica):
    return [CountEpochs()]


DOUBLED = kinds.ConvKind("doubled", _build, takes_input_quantizer=True, layer_class=DoubledConv2D, cost=_cost,
                         export=_export, method=methods.Method("doubled_sgd", _optimizer, callbacks=_callbacks))


@pytest.fixture
def doubled(monkeypatch):
    # Registered for this test only.
    monkeypatch.setattr(kinds._REGISTRY, "entries", dict(kinds._REGISTRY.entries))
    monkeypatch.setattr(methods._REGISTRY, "entries", dict(methods._REGISTRY.entries))
    return kinds.register_kind(DOUBLED)


def test_a_registered_kind_is_built_costed_exported_and_converted(doubled):
    assert "doubled" in kinds.names()
    digits = data.digits_arrays()
    x = digits.x_test[:64]
    model = tfbin.testing.realistic_weights(zoo.digits_resnet(width=8, conv="doubled"), digits.x_train[:256])
    toy = [layer for layer in model.layers if isinstance(layer, DoubledConv2D)]
    bnn = zoo.digits_resnet(width=8, conv="bnn")
    assert len(toy) == len([layer for layer in bnn.layers if type(layer) is lq.layers.QuantConv2D]) == 4

    costs = [c for c in cost.model_cost(model).layers if c.kind == "doubled"]
    assert [c.name for c in costs] == [layer.name for layer in toy]
    assert cost.model_cost(model).bit_ops == cost.model_cost(bnn).bit_ops

    plain = pruning.strip_pruning(model)
    assert not [layer for layer in plain.layers if isinstance(layer, DoubledConv2D)]
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)

    result = convert.convert(model, calibration_data=x)
    assert result.census["LceBconv2d"] == len(toy)


def test_a_recipe_trains_a_registered_kind_with_the_method_it_declares(doubled, tmp_path):
    assert "doubled_sgd" in methods.names()
    recipe = Recipe(name="doubled", title="doubled", source="tests", reported="-", task="classification",
                    dataset="cifar10", model="digits_resnet", model_kwargs={"conv": "doubled", "width": 4},
                    image_size=None, batch_size=128, epochs=2, optimizer={"learning_rate": 0.05, "momentum": 0.5},
                    method="doubled_sgd")
    CountEpochs.made.clear()
    run = recipes.train(recipe, tmp_path, dataset="digits", verbose=0)
    optimizer = run.model.optimizer
    assert type(optimizer) is tf.keras.optimizers.legacy.SGD
    config = optimizer.get_config()
    assert (config["momentum"], config["learning_rate"]) == pytest.approx((0.5, 0.05))
    assert [callback.epochs for callback in CountEpochs.made] == [2]
    assert any(isinstance(layer, DoubledConv2D) for layer in run.model.layers)


def test_kinds_are_checked():
    with pytest.raises(ValueError, match="conv must be one of"):
        zoo.digits_resnet(conv="doubled")  # not registered outside the test above
    with pytest.raises(ValueError, match="layer_class"):
        dataclasses.replace(DOUBLED, layer_class=None)
    with pytest.raises(ValueError, match="method must be a tfbin.methods.Method or None, got 'pabt'"):
        dataclasses.replace(DOUBLED, method="pabt")
    with pytest.raises(ValueError, match="method 'sgd': optimizer must be callable"):
        methods.Method("sgd", "sgd")
    assert "doubled_sgd" not in methods.names()  # registered with its kind, in the tests above only
    with pytest.raises(ValueError, match="input_quantizer applies to conv bnn, relaxed"):
        zoo.binary_conv(8, 3, conv="mbn", input_quantizer="ste_sign")
    assert kinds.get_kind("mbn").options == ("weight_bases", "activation_bases", "scaling")
