"""ReActNet's generalized activations: RSign, RPReLU and learnable per-channel biases and scales.

ReActNet (Liu et al., ECCV 2020) gives a binary network a few float numbers
per channel where they cost almost nothing:

- `RSign`: sign(x + b_c), a sign with a learnable shift per input channel.
  It is a Larq quantizer (precision 1), so it goes where a sign goes, as the
  `input_quantizer` of a larq `QuantConv2D`; as a quantizer it is also a
  Keras layer and can stand alone. Larq Compute Engine turns the shift into an
  ADD in front of its LceQuantize, and the convolution stays an LceBconv2d.
- `RPReLU`: PReLU(x + b1_c) + b2_c, one slope and two shifts per channel,
  between binary blocks. It runs as float TFLite ops (ADD, PRELU, ADD).
- `LearnableBias`: x + b_c, the "move" layer the two above are made of, for
  building variants (a ReLU between two shifts, say).
- `ChannelScale`: x * s_c, a learnable scale per output channel of a binary
  convolution (BNEW's "scaling factors"); a BatchNormalization after it
  makes it redundant in principle, which is what the ablation measures.

All are channels-last and serializable; `tfbin.zoo` builds ReActNet-style
residual networks from them (`block="reactnet"`).

```python
import tfbin
import larq as lq
import tensorflow as tf
from tfbin.reactnet import ChannelScale, RPReLU, RSign

inputs = tf.keras.Input((8, 8, 16))
x = lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0, use_bias=False,
                          input_quantizer=RSign(), kernel_quantizer="ste_sign",
                          kernel_constraint="weight_clip")(inputs)
x = ChannelScale()(x)
x = tf.keras.layers.BatchNormalization()(x)
x = RPReLU()(tf.keras.layers.Add()([x, inputs]))
model = tf.keras.Model(inputs, x)
```
"""
import larq as lq
import tensorflow as tf

from tfbin.registry import register
from tfbin.validation import check_one_of

__all__ = ["SIGN_GRADIENTS", "ChannelScale", "LearnableBias", "RPReLU", "RSign"]

# The pseudo-gradients of the sign (BNEW's equations 1 and 2): the clipped
# straight-through estimator, and ReActNet's piecewise-quadratic ApproxSign.
SIGN_GRADIENTS = ("approx", "ste")


def _channels(layer, input_shape):
    channels = tf.TensorShape(input_shape)[-1]
    if channels is None:
        raise ValueError(f"{layer.name}: the last (channel) dimension of the input must be known")
    return int(channels)


class _PerChannel(tf.keras.layers.Layer):
    """A layer with one trainable vector per channel, the attribute `weight_name`."""

    weight_name = None

    def __init__(self, initializer, **kwargs):
        super().__init__(**kwargs)
        self.initializer = tf.keras.initializers.get(initializer)

    def build(self, input_shape):
        vector = self.add_weight(self.weight_name, shape=(_channels(self, input_shape),),
                                 initializer=self.initializer, trainable=True)
        setattr(self, self.weight_name, vector)
        super().build(input_shape)

    def get_config(self):
        return {**super().get_config(), "initializer": tf.keras.initializers.serialize(self.initializer)}


@register
class LearnableBias(_PerChannel):
    """x + b_c: a trainable shift per channel (zero at first).

    Arguments:
        initializer: of the shifts.
    """

    weight_name = "bias"

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(initializer, **kwargs)

    def call(self, inputs):
        return inputs + self.bias


@register
class ChannelScale(_PerChannel):
    """x * s_c: a trainable scale per channel (one at first).

    Arguments:
        initializer: of the scales.
    """

    weight_name = "scale"

    def __init__(self, initializer="ones", **kwargs):
        super().__init__(initializer, **kwargs)

    def call(self, inputs):
        return inputs * self.scale


@register
class RPReLU(tf.keras.layers.Layer):
    """PReLU(x + b1_c) + b2_c: ReActNet's shifted PReLU, one slope and two shifts per channel.

    Arguments:
        alpha_initializer: of the negative-side slopes (0.25, PyTorch's PReLU default).
        bias_initializer: of both shifts.
    """

    def __init__(self, alpha_initializer=tf.keras.initializers.Constant(0.25), bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = tf.keras.initializers.get(alpha_initializer)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        channels = _channels(self, input_shape)
        self.shift_in = self.add_weight("shift_in", (channels,), initializer=self.bias_initializer)
        self.alpha = self.add_weight("alpha", (channels,), initializer=self.alpha_initializer)
        self.shift_out = self.add_weight("shift_out", (channels,), initializer=self.bias_initializer)
        super().build(input_shape)

    def call(self, inputs):
        x = inputs + self.shift_in
        # The form of Keras' PReLU (slopes broadcast over the spatial axes),
        # which the TFLite converter turns into one PRELU op.
        alpha = tf.reshape(self.alpha, [1] * (inputs.shape.rank - 2) + [-1])
        return tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x) + self.shift_out

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": tf.keras.initializers.serialize(self.alpha_initializer),
            "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer),
        }


@register
class RSign(lq.quantizers.Quantizer):
    """sign(x + b_c) with a learnable shift b_c per channel: ReActNet's RSign.

    A 1-bit Larq quantizer: use it as the `input_quantizer` of a larq
    `QuantConv2D` (the shift trains with the layer and is saved with it), or as
    a layer of its own. Like larq's sign, it maps 0 to +1, as LCE does.

    Arguments:
        gradient: the sign's pseudo-gradient, "approx" (ReActNet's ApproxSign,
            2 - 2|x| inside [-1, 1]) or "ste" (the clipped straight-through
            estimator, 1 inside [-1, 1]).
        bias_initializer: of the shifts.
    """

    precision = 1

    def __init__(self, gradient="approx", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.gradient = check_one_of("gradient", gradient, SIGN_GRADIENTS)
        self.bias_initializer = tf.keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.bias = self.add_weight("bias", (_channels(self, input_shape),), initializer=self.bias_initializer,
                                    trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        shifted = inputs + self.bias
        if self.gradient == "approx":
            return lq.quantizers.approx_sign(shifted)
        return lq.quantizers.ste_sign(shifted)

    def get_config(self):
        return {
            **super().get_config(),
            "gradient": self.gradient,
            "bias_initializer": tf.keras.initializers.serialize(self.bias_initializer),
        }
