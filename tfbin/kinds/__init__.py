"""Convolution kinds: what `conv=` names in `tfbin.zoo`, each one registered object.

A kind says in one place how the zoo builds its layer, which of the zoo
builders' arguments the layer takes, for a layer class of its own the cost
rule (`tfbin.cost`) and the export rule (`tfbin.export`, applied by
`strip_pruning`) of that class, and, when it comes with a training of its
own, the `tfbin.methods.Method` that recipes name to train it (the optimizer,
the callbacks and what the network gets before training). The built-in
kinds are modules of this package, each declaring its `KIND`, loaded when
first asked for, so that listing their names needs no TensorFlow; a new kind
is a `ConvKind` passed to `register_kind`, and the zoo, the cost model,
export, conversion and `tfbin.recipes.train` then handle it.

The built-in kinds declare no method: the built-in methods (`tfbin.methods`)
pair with several kinds each, so a recipe names its method and its kind
apart (`Recipe.method`, `Recipe.model_kwargs["conv"]`).

```python
from tfbin import kinds

kinds.names()                      # ('bnn', 'mbn', 'float', 'snn', 'irnet', 'relaxed')
kinds.get_kind("mbn").options      # ('weight_bases', 'activation_bases', 'scaling')
```
"""
import dataclasses
from typing import Callable, Optional

from tfbin import methods
from tfbin._lazy import LazyRegistry
from tfbin.validation import check_one_of

__all__ = ["BUILTIN_KINDS", "ConvKind", "get_kind", "names", "register_kind", "rule_for", "rules"]

# The built-in kinds in the order the command line offers them; each is the
# module of this package named in the value ("float" would shadow a builtin).
BUILTIN_KINDS = {"bnn": "bnn", "mbn": "mbn", "float": "full_precision", "snn": "snn", "irnet": "irnet",
                 "relaxed": "relaxed"}
_REGISTRY = LazyRegistry(__name__, BUILTIN_KINDS, "KIND", "conv")


@dataclasses.dataclass(frozen=True)
class ConvKind:
    """One kind of convolution of the zoo's networks.

    Arguments:
        name: what `conv=` takes.
        build: `build(**kwargs)` -> the Keras layer. kwargs are the zoo's
            `filters, kernel_size, strides, dilation_rate, padding, use_bias,
            name`, the `options` the builder was given and, when
            `takes_input_quantizer`, `input_quantizer`.
        options: the zoo builders' arguments the layer takes (their defaults
            are the builders').
        binary: False for a float convolution: a network of it has no binary
            stem, downsampling or classifier.
        takes_input_quantizer: a block may choose its input quantizer (RSign,
            approx_sign); other kinds quantize their own inputs.
        layer_class: the layer class `cost` and `export` are the rules of
            (None: the kind's layers are plain larq layers with rules of
            their own).
        cost: `cost(layer)` -> `tfbin.cost.LayerCost`.
        export: `export(layer, context)` -> callable or None, as
            `tfbin.export.export_rule` takes it.
        method: the `tfbin.methods.Method` that trains the kind's networks,
            registered with the kind for recipes to name (None: a recipe
            names a built-in method).
    """

    name: str
    build: Callable
    options: tuple = ()
    binary: bool = True
    takes_input_quantizer: bool = False
    layer_class: Optional[type] = None
    cost: Optional[Callable] = None
    export: Optional[Callable] = None
    method: Optional[methods.Method] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if (self.cost is not None or self.export is not None) and self.layer_class is None:
            raise ValueError(f"kind {self.name!r}: cost and export rules need the layer_class they apply to")
        if self.method is not None and not isinstance(self.method, methods.Method):
            raise ValueError(f"kind {self.name!r}: method must be a tfbin.methods.Method or None, got {self.method!r}")


def register_kind(kind):
    """Registers `kind` and its method, replacing those of the same names; returns it."""
    if not isinstance(kind, ConvKind):
        raise ValueError(f"kind must be a tfbin.kinds.ConvKind, got {kind!r}")
    if kind.method is not None:
        methods.register_method(kind.method)
    _REGISTRY.entries[kind.name] = kind
    return kind


def names():
    """Every kind's name: the built-in ones first, then the registered ones."""
    return _REGISTRY.names()


def get_kind(name):
    """The `ConvKind` called `name` (a built-in one: its module's KIND)."""
    return _REGISTRY.get(name, register_kind)


def rules(field):
    """{layer class: rule} of every kind with a `field` ("cost" or "export") rule, built-in kinds included."""
    check_one_of("field", field, ("cost", "export"))
    for name in BUILTIN_KINDS:
        get_kind(name)
    return {kind.layer_class: getattr(kind, field) for kind in _REGISTRY.entries.values() if getattr(kind, field)}


def rule_for(layer, rules_by_class):
    """The rule of `layer`'s most specific class in `rules_by_class`, or None."""
    return next((rules_by_class[cls] for cls in type(layer).__mro__ if cls in rules_by_class), None)
