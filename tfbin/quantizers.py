"""Quantizers for the binary bases of multi-base convolutions.

Both are Larq quantizers with `precision = 1`, so `lq.models.summary` counts
what they produce as 1-bit and `lq.optimizers.Bop.is_binary_variable` hands
the weight bases to Bop.

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

__all__ = ["ShiftedSign", "WeightBaseSign"]


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
