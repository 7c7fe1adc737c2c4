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

The fixed tolerance (agreement >= 0.99, p90 relative error <= 0.05) comes
from measurements: faithful conversions of digits nets of every (M, N) in
{1,2,3}^2 give p90 errors of 3e-7 to 3e-6 and full agreement; one binary
convolution with a sign-flipped output scale gives 0.3 or more, sometimes
with full argmax agreement, which is why both figures are judged. Deep nets
(ResNet-18 shapes) are chaotic at rounding level, so their outputs move by
more than that even between two float orders of Keras itself: when the fixed
tolerance fails, `tfbin.convert.rounding` measures that floor and the check
allows up to `FLOOR_FACTOR` times it. Wrong conversions of those nets are
still 3 to 14 times above the allowance (measured).

```python
import numpy as np
from tfbin.convert.parity import measure_parity

keras_outputs = np.array([[2.0, 1.0, 0.5], [0.1, 0.3, 0.2]])
lce_outputs = keras_outputs + 1e-6
parity = measure_parity(keras_outputs, lce_outputs)
parity.faithful()   # argmax agreement >= 0.99 and p90 relative error <= 0.05
```
"""
import dataclasses

import numpy as np

__all__ = [
    "FLOOR_FACTOR",
    "MAX_P90_REL_ERROR",
    "MIN_AGREEMENT",
    "TIE_TOLERANCE",
    "Parity",
    "flat_outputs",
    "keras_predict",
    "measure_parity",
]

MIN_AGREEMENT = 0.99
MAX_P90_REL_ERROR = 0.05
# Two outputs closer than this (relative to the sample's largest output) are a tie.
TIE_TOLERANCE = 1e-5
# How far beyond the model's own rounding floor a conversion may disagree.
FLOOR_FACTOR = 2.0


@dataclasses.dataclass
class Parity:
    """Keras against TFLite outputs; the `floor_*` fields are Keras against itself under rounding noise.

    The floor is None unless it was measured (only when the fixed tolerance fails).
    """

    max_abs_diff: float
    argmax_agreement: float
    median_rel_error: float
    p90_rel_error: float
    samples: int
    floor_agreement: float | None = None
    floor_p90_rel_error: float | None = None

    def allowed(self, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
        """(least agreement, largest p90 relative error) allowed: the tolerance, widened by the floor."""
        if self.floor_p90_rel_error is None:
            return min_agreement, max_p90_rel_error
        disagreement = max(1 - min_agreement, FLOOR_FACTOR * (1 - self.floor_agreement))
        return 1 - disagreement, max(max_p90_rel_error, FLOOR_FACTOR * self.floor_p90_rel_error)

    def faithful(self, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
        agreement, rel_error = self.allowed(min_agreement, max_p90_rel_error)
        return self.argmax_agreement >= agreement and self.p90_rel_error <= rel_error

    def describe(self):
        text = (
            f"max |keras - converted| {self.max_abs_diff:.3g}, argmax agreement {self.argmax_agreement:.4f}, "
            f"relative error median {self.median_rel_error:.3g} / p90 {self.p90_rel_error:.3g} "
            f"over {self.samples} samples"
        )
        if self.floor_p90_rel_error is not None:
            text += (
                f"; Keras against itself under rounding noise: agreement {self.floor_agreement:.4f}, "
                f"p90 {self.floor_p90_rel_error:.3g}"
            )
        return text

    def with_floor(self, floor):
        """This parity judged against `floor`, the Parity of Keras with itself under rounding noise."""
        return dataclasses.replace(
            self, floor_agreement=floor.argmax_agreement, floor_p90_rel_error=floor.p90_rel_error
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


def keras_predict(model, x, batch_size=64):
    """`model`'s inference outputs on `x`, computed eagerly batch by batch.

    Same numbers as `model.predict`, without tracing a predict function
    first: on a model with hundreds of multi-base layers that tracing takes
    longer than the calibration batches themselves.
    """
    x = np.asarray(x, np.float32)
    return np.concatenate([np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)])


def flat_outputs(outputs):
    """A model's output(s) as one (samples, values) float64 array, for parity."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in outputs], axis=1)
