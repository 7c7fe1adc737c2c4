"""`conv="float"`: a full-precision `Conv2D` of the same shape, the start of `tfbin.transfer.init_from_float`."""
import tensorflow as tf

from tfbin.kinds import ConvKind


def _build(**kwargs):
    return tf.keras.layers.Conv2D(kernel_initializer="he_normal", **kwargs)


KIND = ConvKind("float", _build, binary=False)
