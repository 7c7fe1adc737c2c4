"""Initializers for binary variables.

```python
import tfbin
init = tfbin.initializers.RandomSign(seed=0)
init((3, 3, 16, 32))  # +-1 entries, equally likely
```
"""
import tensorflow as tf

from tfbin.registry import register

__all__ = ["RandomSign"]


@register
class RandomSign(tf.keras.initializers.Initializer):
    """Draws each entry from {-1, +1} with equal probability.

    Bop flips +-1 weights in place, so weight bases start binary rather than
    as real values that the first step would round.
    """

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None, **kwargs):
        dtype = tf.as_dtype(dtype or tf.keras.backend.floatx())
        uniform = tf.keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed)
        return tf.where(uniform(shape, dtype) >= 0, tf.ones(shape, dtype), -tf.ones(shape, dtype))

    def get_config(self):
        return {"seed": self.seed}
