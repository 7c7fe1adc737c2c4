"""Parity between a Keras model and its converted LCE flatbuffer.

Binary convolutions sum integers, so pre-activations often sit exactly on a
sign threshold; LCE folds scales in another float order than Keras and such
ties may land on the other side, flipping one activation downstream. A tie
flip moves a few samples by a little; a wrong conversion moves most samples by
a lot. The check therefore judges argmax agreement and the per-sample relative
error over a batch of realistic inputs, not the worst single element.
"""
import dataclasses

import numpy as np

__all__ = ["Parity", "measure_parity"]


@dataclasses.dataclass
class Parity:
    max_abs_diff: float
    argmax_agreement: float
    median_rel_error: float
    p90_rel_error: float
    samples: int

    def faithful(self, min_agreement=0.99, max_p90_rel_error=0.05):
        return self.argmax_agreement >= min_agreement and self.p90_rel_error <= max_p90_rel_error

    def to_dict(self):
        return dataclasses.asdict(self)


def measure_parity(reference, candidate):
    """Compares two (samples, ...) output arrays: Keras outputs first, LCE second."""
    reference = np.asarray(reference, np.float64).reshape(len(reference), -1)
    candidate = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    diff = np.abs(reference - candidate)
    scale = np.abs(reference).max(axis=1) + 1e-12
    rel = diff.max(axis=1) / scale
    return Parity(
        max_abs_diff=float(diff.max()),
        argmax_agreement=float(np.mean(reference.argmax(1) == candidate.argmax(1))),
        median_rel_error=float(np.median(rel)),
        p90_rel_error=float(np.quantile(rel, 0.9)),
        samples=len(reference),
    )
