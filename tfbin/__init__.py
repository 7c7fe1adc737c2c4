"""tfbin: compress binary neural networks past plain 1-bit training.

Importing tfbin routes `tf.keras` to Keras 2 (the `tf-keras` package), which
Larq needs, and registers every tfbin layer, quantizer, initializer, schedule
and callback with Keras, so saved models load back. The other parts
(`tfbin.data`, `tfbin.zoo`, `tfbin.convert`, `tfbin.tuning`, ...) load on
first use.

```python
import tfbin  # before anything touches tf.keras
import tensorflow as tf

layer = tfbin.layers.MultiBaseConv2D(16, 3, weight_bases=2, activation_bases=2)
```
"""
import importlib
import os
import sys

__version__ = "0.1.0"

# Every public part, loaded on first use (`tfbin.zoo`, `from tfbin import convert`).
_SUBMODULES = (
    "batchnorm",
    "callbacks",
    "choices",
    "cli",
    "codebooks",
    "convert",
    "cost",
    "data",
    "demo",
    "distillation",
    "distribute",
    "files",
    "graph",
    "initializers",
    "kinds",
    "layers",
    "loading",
    "methods",
    "metrics",
    "optimizers",
    "pabt",
    "passes",
    "plots",
    "pruning",
    "quantizers",
    "reactnet",
    "recipes",
    "registry",
    "shrink",
    "stq",
    "subbit",
    "testing",
    "training",
    "transfer",
    "tuning",
    "validation",
    "zoo",
)
# The modules whose import registers tfbin's Keras objects.
_REGISTERING = (
    "batchnorm", "callbacks", "distillation", "initializers", "layers", "metrics", "optimizers", "pabt", "pruning",
    "quantizers", "reactnet", "shrink", "stq",
)


def _started_as_command():
    """True in the `tfbin` console command, False wherever else tfbin is imported.

    The command loads only what the chosen subcommand needs, so that its help
    and argument errors come without waiting for TensorFlow. Its launcher
    (`_tfbin_command`, the console script's entry point) declares command
    mode before it imports tfbin; nothing is guessed from `sys.argv`.
    """
    launcher = sys.modules.get("_tfbin_command")
    return bool(getattr(launcher, "STARTED", False))


def _check_tf_keras_is_keras2():
    import tensorflow as tf

    if not getattr(tf, "_tf_uses_legacy_keras", False) or not tf.keras.layers.Layer.__module__.startswith(
        "tf_keras"
    ):
        raise ImportError(
            "tfbin needs Keras 2 (tf-keras), but TensorFlow was already imported "
            "with Keras 3 active. Import tfbin before TensorFlow (and anything that "
            "imports it), or set the environment variable TF_USE_LEGACY_KERAS=1 before "
            "starting Python (for example `export TF_USE_LEGACY_KERAS=1`)."
        )


def register_keras_objects():
    """Registers every tfbin Keras object (done by `import tfbin`; the command calls it before loading models)."""
    for name in _REGISTERING:
        importlib.import_module(f"tfbin.{name}")


COMMAND = _started_as_command()

# TensorFlow 2.16 decides between Keras 3 and tf-keras when it is imported
# (the `tensorflow.keras` module path) and again when `tf.keras` is first
# touched, reading TF_USE_LEGACY_KERAS each time; Larq needs both to agree on
# tf-keras.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
if "tensorflow" in sys.modules:
    _check_tf_keras_is_keras2()
else:
    # TensorFlow's C++ start-up chatter (CUDA plugin registration, oneDNN
    # notes) buries tfbin's own output: the command hides all of it, a program
    # importing tfbin still sees TensorFlow's errors. A value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if COMMAND else "2")
if not COMMAND:
    register_keras_objects()


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfbin.{name}")
    raise AttributeError(f"module 'tfbin' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
