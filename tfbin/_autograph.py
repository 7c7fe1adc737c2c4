"""Autograph leaves Keras 2's own code alone, as TensorFlow meant it to.

TensorFlow's autograph rewrites the Python a `tf.function` calls, except in
the packages its conversion rules list. TensorFlow 2.16 lists `keras`, where
Keras lived until 2.15 and Keras 3 lives since, but not `tf_keras`, where
Keras 2 lives now. So under Keras 2, which tfbin selects for Larq, every new
process rewrote Keras' whole training loop (about 3,000 functions) the first
time it ran `fit`, `evaluate` or `predict`: 14 of the 16 seconds that the
first epoch of a width-8 digits ResNet took. The same rule for `tf_keras`
gives Keras 2 what it had as `keras`. Code that Keras calls back is still
converted as before: the `call` of every layer, Keras' own ones included, as
Keras converts it itself; a `train_step` that a model overrides runs as
written, as it did under `keras`.

The rules are TensorFlow's private API; if a later TensorFlow moves them,
nothing is added and training is only slower to start.
"""


def leave_keras2_unconverted():
    """Adds autograph's do-not-convert rule for `tf_keras`, once."""
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple) or not hasattr(config_lib, "DoNotConvert"):
        return
    if not any(isinstance(rule, config_lib.DoNotConvert) and rule.matches("tf_keras") for rule in rules):
        config.CONVERSION_RULES = (*rules, config_lib.DoNotConvert("tf_keras"))
