"""Keras Tuner on tf.keras: the one workaround tfbin needs to use it.

keras_tuner picks its Keras once, while it is imported: its
`keras_tuner.src.backend.config` does `import keras` and takes the Keras 3
code path when that package reports a 3.x version. TensorFlow 2.16 always
installs Keras 3, so keras_tuner then checks models against Keras 3's
`Model`, uses Keras 3 callbacks and `clear_session`, and refuses the tf_keras
models Larq builds (keras-tuner#1039, open). keras_tuner has a complete
tf.keras code path of its own (the one it uses under Keras 2) but no setting
to choose it. So for the duration of that one import, `keras` names the
tf_keras package (which has no `version()`, so keras_tuner takes its tf.keras
path and imports `tensorflow.keras`, which is tf_keras because tfbin set
TF_USE_LEGACY_KERAS); then `keras` is put back. Of the modules loaded
meanwhile only keras_tuner's config keeps the substitute (the tests check
this), and `import keras` still gives Keras 3 to everyone else. Whoever
imports keras_tuner after this gets the same, tf.keras-driven module
(keras-tuner is pinned to 1.4.8).
"""
import sys

__all__ = ["keras_tuner"]


def _import_keras_tuner():
    module = sys.modules.get("keras_tuner")
    if module is None:
        import tf_keras

        previous = sys.modules.get("keras")
        sys.modules["keras"] = tf_keras
        try:
            import keras_tuner as module
        finally:
            if previous is None:
                del sys.modules["keras"]
            else:
                sys.modules["keras"] = previous
    from keras_tuner.src.backend import config

    if config.multi_backend():
        raise ImportError(
            "tfbin.tuning must be imported before keras_tuner: keras_tuner was "
            "already imported with Keras 3 and would refuse tf.keras models "
            "(the ones Larq and tfbin build). Import tfbin.tuning first, then "
            "import keras_tuner as usual."
        )
    return module


keras_tuner = _import_keras_tuner()
