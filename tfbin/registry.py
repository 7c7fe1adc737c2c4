"""Registration of tfbin's Keras objects, so saved models load back after `import tfbin`."""
import larq as lq
import tensorflow as tf

from tfbin._autograph import leave_keras2_unconverted

__all__ = ["register"]

# Every module with Keras objects imports this one, so this runs before anything of tfbin trains.
leave_keras2_unconverted()


def register(cls):
    """Registers `cls` under "tfbin>Name" and under its bare name.

    Keras' native formats look objects up by the package-qualified name; the
    legacy .h5 path and Larq's `quantizers.get` look them up by class name.
    """
    cls = tf.keras.utils.register_keras_serializable(package="tfbin")(cls)
    return lq.utils.register_keras_custom_object(cls)
