"""Training methods: what `Recipe.method` names, each one registered object.

A method declares in one place how `tfbin.recipes.train` trains a recipe's
network: its optimizer and schedules, the callbacks that make the method
(PaBT's pruning, STQ-A's filter pruning, SNN's codebook refinement) and what
the network gets before training (STQ-A's masks). The built-in methods,
`tfbin.choices.METHODS`, are modules of this package, each declaring its
`METHOD`, loaded when first asked for, so that listing their names needs no
TensorFlow; a new method is a `Method` passed to `register_method`.

A method is an object of its own, not a field of every `tfbin.kinds.ConvKind`,
because methods and convolution kinds pair freely: STQ-A trains the "bnn"
kind with masks that it adds to a network the zoo built; Bop trains "mbn"
networks in PaBT's recipes and "bnn" ones in the demos; BMD trains the
"relaxed" kind as BNEW does. A kind that comes with a training of its own
declares it as its `ConvKind.method`, registered with the kind, and a recipe
names it as it names a built-in method.

```python
import tfbin
import tensorflow as tf
from tfbin import methods

def sgd(recipe, epochs, steps_per_epoch, learning_rate):
    return tf.keras.optimizers.legacy.SGD(learning_rate, momentum=recipe.optimizer["momentum"])

methods.register_method(methods.Method("sgd", sgd))   # Recipe(..., method="sgd") trains with it
methods.names()                    # ('pabt', 'stq', 'snn', 'bnew', 'sgd')
```
"""
import dataclasses
from typing import Callable

from tfbin._lazy import LazyRegistry
from tfbin.choices import METHODS

__all__ = ["Method", "get_method", "names", "register_method"]

_REGISTRY = LazyRegistry(__name__, {name: name for name in METHODS}, "METHOD", "method")


def _no_callbacks(recipe, epochs, train_data, single_replica):
    return []


def _unchanged(recipe, model):
    return model


@dataclasses.dataclass(frozen=True)
class Method:
    """How a recipe trains its network.

    Arguments:
        name: what `Recipe.method` takes.
        optimizer: `optimizer(recipe, epochs, steps_per_epoch, learning_rate)`
            -> the Keras optimizer of the run; `learning_rate` is the recipe's
            scaled for the replicas, `recipe.optimizer` holds the rest.
        callbacks: `callbacks(recipe, epochs, train_data, single_replica)` ->
            the Keras callbacks that make the method (default: none);
            `train_data` is the batched training pipeline, `single_replica`
            False under a distribution strategy of several replicas.
        prepare_model: `prepare_model(recipe, model)` -> the model to train,
            from the one the zoo built (default: that model).
    """

    name: str
    optimizer: Callable
    callbacks: Callable = _no_callbacks
    prepare_model: Callable = _unchanged

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        for field in ("optimizer", "callbacks", "prepare_model"):
            if not callable(getattr(self, field)):
                raise ValueError(f"method {self.name!r}: {field} must be callable, got {getattr(self, field)!r}")


def register_method(method):
    """Registers `method`, replacing one of the same name; returns it."""
    if not isinstance(method, Method):
        raise ValueError(f"method must be a tfbin.methods.Method, got {method!r}")
    _REGISTRY.entries[method.name] = method
    return method


def names():
    """Every method's name: the built-in ones first, then the registered ones."""
    return _REGISTRY.names()


def get_method(name):
    """The `Method` called `name` (a built-in one: its module's METHOD)."""
    return _REGISTRY.get(name, register_method)
