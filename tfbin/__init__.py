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
    # TensorFlow 2.16 decides between Keras 3 and tf-keras the first time
    # `tf.keras` is touched, reading TF_USE_LEGACY_KERAS at that moment.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if "tensorflow" not in sys.modules:
        return
    import tensorflow as tf

    if not tf.keras.layers.Layer.__module__.startswith("tf_keras"):
        raise ImportError(
            "tfbin needs Keras 2 (tf-keras), but TensorFlow was already imported "
            "with Keras 3 active. Import tfbin before anything uses tf.keras, or "
            "set the environment variable TF_USE_LEGACY_KERAS=1 before starting "
            "Python (for example `export TF_USE_LEGACY_KERAS=1`)."
        )


_route_tf_keras_to_keras2()
