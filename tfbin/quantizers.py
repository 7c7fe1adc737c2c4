"""Quantizers: the binary bases of multi-base convolutions, and IR-Net's parts.

All are Larq quantizers with `precision = 1`, so `lq.models.summary` counts
what they produce as 1-bit. `WeightBaseSign` and `ShiftedSign` binarize the
bases of `MultiBaseConv2D` (Bop flips the weight bases). `ErrorDecaySign` and
`LibraSign` are IR-Net's ("Forward and Backward Information Retention for
Accurate Binary Neural Networks", CVPR 2020) activation and kernel
quantizers, which sub-bit networks train with: real latent weights trained by
Adam, not Bop (`tfbin.optimizers.is_bop_variable` leaves them out).

```python
import tfbin
import tensorflow as tf

q = tfbin.quantizers.WeightBaseSign()
q(tf.constant([-0.3, 0.0, 2.0]))  # [-1., 1., 1.]
```
"""
import larq as lq
import tensorflow as tf

from tfbin.registry import register
from tfbin.validation import check_number

__all__ = ["ErrorDecaySign", "LibraSign", "ShiftedSign", "WeightBaseSign", "error_decay_gradient", "libra_standardize"]


@register
class WeightBaseSign(lq.quantizers.Quantizer):
    """Sign of a weight base, with an identity gradient.

    Weight bases are trained latent-weight-free by Bop: the variable itself
    holds +-1 and Bop flips entries from the accumulated gradient, so the
    gradient passes through unclipped.
    """

    precision = 1

    def call(self, inputs):
        return _identity_gradient_sign(inputs)


@tf.custom_gradient
def _identity_gradient_sign(x):
    # larq's sign maps 0 to +1, as Larq Compute Engine does.
    return lq.math.sign(x), lambda dy: dy


@register
class ShiftedSign(lq.quantizers.Quantizer):
    """sign(x - threshold) with a clipped straight-through gradient.

    The activation-base quantizer. `MultiBaseConv2D` applies it with threshold
    0 to inputs it has already shifted by its trainable thresholds; a stripped
    model carries the trained threshold here, so a plain larq `QuantConv2D`
    with `input_quantizer=ShiftedSign(v)` computes conv(sign(x - v), B). LCE
    converts the shift to a Sub before its binary convolution.

    Arguments:
        threshold: the constant v subtracted before the sign.
        clip_value: gradients pass where `|x - v| <= clip_value`; `None` passes all.
    """

    precision = 1

    def __init__(self, threshold=0.0, clip_value=1.0, **kwargs):
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"clip_value must be positive or None, got {clip_value!r}")
        self.threshold = float(threshold)
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def call(self, inputs):
        if self.threshold:
            inputs = inputs - self.threshold
        return lq.quantizers.ste_sign(inputs, clip_value=self.clip_value)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "clip_value": self.clip_value}


# -- IR-Net: the error decay estimator and Libra parameter binarization --------------


def error_decay_gradient(x, t):
    """d sign(x) / dx as IR-Net's error decay estimator (EDE) approximates it.

    k * t * (1 - tanh(t x)^2) with k = max(1/t, 1): close to the identity
    while t is small (early in training), close to the derivative of sign
    when t is large (late).
    """
    return tf.maximum(t, 1.0) * (1.0 - tf.square(tf.tanh(t * x)))


@tf.custom_gradient
def _error_decay_sign(x, t):
    def grad(dy):
        return dy * error_decay_gradient(x, t), tf.zeros_like(t)

    return lq.math.sign(x), grad


def libra_standardize(kernel):
    """IR-Net's Libra-PB before the sign: (balanced and standardised kernel, power-of-two scale).

    Per output channel (the last axis): subtract the mean, divide by the
    standard deviation (with Bessel's correction, as torch.std), and give the
    binary kernel the scale 2^round(log2(mean |standardised weight|)); the
    scale is a constant to the gradient, as in IR-Net.
    """
    flat = tf.reshape(kernel, (-1, kernel.shape[-1]))
    count = max(int(flat.shape[0]) - 1, 1)
    centered = flat - tf.reduce_mean(flat, axis=0)
    std = tf.sqrt(tf.reduce_sum(tf.square(centered), axis=0) / count)
    standardized = centered / tf.maximum(std, 1e-12)
    exponent = tf.round(tf.math.log(tf.reduce_mean(tf.abs(standardized), axis=0)) / tf.math.log(2.0))
    scale = tf.stop_gradient(tf.pow(2.0, exponent))
    return tf.reshape(standardized, tf.shape(kernel)), scale


@register
class ErrorDecaySign(lq.quantizers.Quantizer):
    """sign(x) with IR-Net's error decay estimator (EDE) as its gradient.

    The backward pass uses `error_decay_gradient(x, t)`; t is a non-trainable
    weight of the quantizer (saved with the model) that
    `tfbin.callbacks.ErrorDecay` raises from T_min to T_max over training.
    Forward it is larq's sign (0 maps to +1), so Larq Compute Engine converts
    it like `ste_sign`.

    Arguments:
        t: the value of t before any callback sets it (0.1: IR-Net's T_min).

    ```python
    import tfbin
    import tensorflow as tf

    q = tfbin.quantizers.ErrorDecaySign(t=0.1)
    q(tf.constant([-0.3, 0.0, 2.0]))  # [-1., 1., 1.]
    ```
    """

    precision = 1

    def __init__(self, t=0.1, **kwargs):
        self.initial_t = check_number("t", t, positive=True)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.error_decay_t = self.add_weight(
            "error_decay_t", shape=(), initializer=tf.keras.initializers.Constant(self.initial_t),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, inputs):
        return _error_decay_sign(inputs, tf.convert_to_tensor(self.error_decay_t))

    def get_config(self):
        return {**super().get_config(), "t": self.initial_t}


@register
class LibraSign(ErrorDecaySign):
    """IR-Net's Libra parameter binarization (Libra-PB) of a real latent kernel.

    Per output channel the kernel is balanced (mean subtracted) and
    standardised, then binarized with the error decay estimator as gradient,
    and scaled by a power of two (`libra_standardize`): the +-scale kernel per
    output channel that Larq Compute Engine makes an `LceBconv2d` of. The
    latent weights are real and trained by Adam (with
    `tfbin.optimizers.bop_optimizer` they are not handed to Bop).

    ```python
    import tfbin
    import larq as lq
    import tensorflow as tf

    conv = lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0, use_bias=False,
                                 input_quantizer=tfbin.quantizers.ErrorDecaySign(),
                                 kernel_quantizer=tfbin.quantizers.LibraSign())
    y = conv(tf.random.normal((1, 8, 8, 4)))
    ```
    """

    latent_weights = True

    def call(self, inputs):
        standardized, scale = libra_standardize(inputs)
        return _error_decay_sign(standardized, tf.convert_to_tensor(self.error_decay_t)) * scale
