"""tfbin: compress binary neural networks past plain 1-bit training.

Importing tfbin routes `tf.keras` to Keras 2 (the `tf-keras` package), which
Larq needs, and registers every tfbin layer, quantizer and callback with
Keras so saved models load back.

```python
import tfbin  # before anything touches tf.keras
import tensorflow as tf
```
"""
import os
import sys

__version__ = "0.1.0"


def _route_tf_keras_to_keras2():
    # TensorFlow 2.16 decides between Keras 3 and tf-keras when it is imported
    # (the `tensorflow.keras` module path) and again when `tf.keras` is first
    # touched, reading TF_USE_LEGACY_KERAS each time; Larq needs both to agree
    # on tf-keras.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if "tensorflow" not in sys.modules:
        # TensorFlow's C++ start-up chatter (CUDA stubs, oneDNN notes) buries
        # tfbin's own output; a value the user set is kept.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return
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


_route_tf_keras_to_keras2()

# Importing these registers every tfbin layer, quantizer, initializer and
# callback with Keras, so saved models load back after `import tfbin`.
from tfbin import (  # noqa: E402
    callbacks,
    cost,
    export,
    initializers,
    layers,
    optimizers,
    pruning,
    quantizers,
    transfer,
)

# Heavier parts (TFDS, Keras Tuner, LCE, matplotlib) load on first use.
_LAZY_SUBMODULES = ("cli", "convert", "data", "demo", "plots", "tuning", "zoo")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"tfbin.{name}")
    raise AttributeError(f"module 'tfbin' has no attribute {name!r}")
