"""Pruning as a binarization technique (PaBT): schedules, importance, strip.

A multi-base network starts with M x N binary convolutions per layer; pruning
removes whole binary convolutions, least important first, until one is left
per layer and the network is a 1-bit BNN. `tfbin.callbacks.PruneToBinary`
drives the masks during `model.fit`; `strip_pruning` turns the result into
plain larq layers for export.

```python
import tfbin
from tfbin import pruning

schedule = pruning.PruningSchedule(start=2, end=8, kind="polynomial", power=3)
schedule.live_count(total=9, progress_time=5.0)  # live convolutions per layer at epoch 5
```
"""
import numpy as np
import tensorflow as tf

from tfbin.export import strip

__all__ = ["IMPORTANCE_KINDS", "SCHEDULE_KINDS", "PruningSchedule", "importance_scores", "strip_pruning"]

SCHEDULE_KINDS = ("linear", "polynomial")
IMPORTANCE_KINDS = ("taylor", "magnitude", "random")


class PruningSchedule:
    """How many binary convolutions stay live as training goes from `start` to `end`.

    Time is in epochs (fractions allowed for per-step pruning). Before `start`
    all `total` convolutions are live; at `end` and after, one. In between the
    pruned fraction follows `kind`: "linear", or "polynomial" like TF Model
    Optimization's PolynomialDecay, 1 - (1 - progress) ** power, which prunes
    fast early and slowly near the end.
    """

    def __init__(self, start, end, kind="linear", power=3):
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULE_KINDS)}; got {kind!r}")
        if not (isinstance(start, int) and isinstance(end, int)) or start < 0:
            raise ValueError(f"start_epoch and end_epoch must be integers >= 0, got {start!r} and {end!r}")
        if start >= end:
            raise ValueError(f"start_epoch ({start}) must be smaller than end_epoch ({end})")
        if not power > 0:
            raise ValueError(f"power must be positive, got {power!r}")
        self.start, self.end, self.kind, self.power = start, end, kind, power

    def pruned_fraction(self, time):
        progress = min(max((time - self.start) / (self.end - self.start), 0.0), 1.0)
        return progress if self.kind == "linear" else 1.0 - (1.0 - progress) ** self.power

    def live_count(self, total, time):
        """Live convolutions out of `total` at `time` (epochs since the start of training)."""
        return total - int(np.floor((total - 1) * self.pruned_fraction(time) + 1e-9))

    def get_config(self):
        return {"start": self.start, "end": self.end, "kind": self.kind, "power": self.power}


def importance_scores(layer, kind, seed=0, event=0, layer_index=0):
    """Importance of each of a layer's M x N binary convolutions, shape (M, N).

    - "taylor": |c * dL/dc| accumulated by the layer since the last event.
    - "magnitude": |gamma_mn * alpha_m * beta_n| (the mean over output channels).
    - "random": uniform noise from a stateless generator keyed by
      (seed, event, layer_index), so a resumed run draws the same numbers.
    """
    if kind == "taylor":
        return tf.keras.backend.get_value(layer.importance)
    if kind == "magnitude":
        coefficients = tf.keras.backend.get_value(layer.coefficients())  # (N, M, F)
        return np.abs(coefficients).mean(axis=2).T
    if kind == "random":
        rng = np.random.default_rng([seed, event, layer_index])
        return rng.random((layer.weight_bases, layer.activation_bases))
    raise ValueError(f"importance must be one of {', '.join(IMPORTANCE_KINDS)}; got {kind!r}")


def prune_to(layer, live, scores):
    """Masks the least important live convolutions of `layer` until `live` remain.

    Returns the number of convolutions pruned.
    """
    mask = tf.keras.backend.get_value(layer.mask)
    alive = np.flatnonzero(mask.reshape(-1) > 0.5)
    excess = len(alive) - live
    if excess <= 0:
        return 0
    # Stable sort: among equal scores the lower (m, n) index is pruned first,
    # so decisions do not depend on the sort implementation.
    order = alive[np.argsort(scores.reshape(-1)[alive], kind="stable")]
    flat = mask.reshape(-1).copy()
    flat[order[:excess]] = 0.0
    layer.mask.assign(flat.reshape(mask.shape))
    return excess


def strip_pruning(model):
    """Export step after pruning, like tfmot's `strip_pruning`.

    Returns a plain Keras/larq copy of `model`: every `MultiBaseConv2D` becomes
    one larq `QuantConv2D` per live binary convolution (exactly one per layer
    after `PruneToBinary` has finished), scales folded into the kernel scale;
    masks, importance and dead bases are gone. See `tfbin.export.strip`.
    """
    return strip(model)
