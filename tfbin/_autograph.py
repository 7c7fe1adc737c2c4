"""Autograph leaves Keras 2's own internals alone, as TensorFlow means it to.

TensorFlow's autograph rewrites the Python a `tf.function` calls, except in
the packages its conversion rules list. TensorFlow 2.16 lists `keras`, where
Keras lived until 2.15 and Keras 3 lives since, but not `tf_keras`, where
Keras 2 lives now. So under Keras 2, which tfbin selects for Larq, every new
process rewrote Keras' whole training machinery (about 3,000 functions) the
first time it ran `fit`, `evaluate` or `predict`: 14 of the 16 seconds that
the first epoch of a width-8 digits ResNet took.

Keras 2 is written to run unconverted: it converts a layer's `call`, a loss
and a metric itself when it calls them. tfbin adds for `tf_keras` the rule
TensorFlow has for `keras` (newer TensorFlow lists `tf_keras` itself),
except for the module that runs a model's own `train_step`,
`test_step` and `predict_step` (`_CALLING_USER_CODE`), so that those are
converted as before. The first epoch above then takes about 3 s. Like the
rest of Keras, an optimizer's methods then run as written, as they do under
newer TensorFlow: Python `if` on a tensor there needs `tf.cond`.

The rules are TensorFlow's private API; if a later TensorFlow moves them,
nothing is added and training is only slower to start.
"""


# Where `Model.fit` builds its step functions, which call `train_step`,
# `test_step` and `predict_step`: converted, so that a model's own steps are
# converted as before. (Converting the optimizers too, for the methods their
# subclasses override, added another 1.7 s to the first fit, measured.)
_CALLING_USER_CODE = ("tf_keras.src.engine.training",)


def leave_keras2_unconverted():
    """Adds the do-not-convert rule for `tf_keras`, after rules that keep `_CALLING_USER_CODE` converted."""
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:
        return
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple) or not all(hasattr(config_lib, rule) for rule in ("Convert", "DoNotConvert")):
        return
    if not any(isinstance(rule, config_lib.DoNotConvert) and rule.matches("tf_keras") for rule in rules):
        # The first rule that matches a module decides.
        config.CONVERSION_RULES = (
            *rules, *map(config_lib.Convert, _CALLING_USER_CODE), config_lib.DoNotConvert("tf_keras"),
        )
