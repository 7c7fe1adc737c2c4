"""Pruning as a binarization technique (PaBT): schedules and strip_pruning.

A multi-base network starts with M x N binary convolutions per layer; pruning
removes whole binary convolutions, least important first, until one is left
per layer and the network is a 1-bit BNN. As in TF Model Optimization:

- a schedule object says how far pruning has gone at each point of training
  (`LinearSchedule`, `PolynomialSchedule`, or a `PruningSchedule` subclass);
- the masks live in the model (`MultiBaseConv2D.mask`), so checkpoints keep them;
- a callback advances them during `fit` (`tfbin.pabt.PruneToBinary`, with
  the importance, selection and fading it uses);
- `strip_pruning` turns the result into plain larq layers before export.

```python
import tfbin
from tfbin import pruning, zoo

schedule = pruning.PolynomialSchedule(start_epoch=2, end_epoch=8, power=3)
schedule(5.0)                     # fraction of the prunable convolutions gone at epoch 5
schedule.live_count(9, 5.0)       # live convolutions of a 3/3 layer at epoch 5

model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
plain = pruning.strip_pruning(model)   # only larq QuantConv2D layers, same outputs
```
"""
import numpy as np

from tfbin import passes
from tfbin.registry import register
from tfbin.validation import check_int, check_number, check_one_of

__all__ = [
    "PRUNING_SCHEDULES",
    "LinearSchedule",
    "PolynomialSchedule",
    "PruningSchedule",
    "get_schedule",
    "strip_pruning",
]


class PruningSchedule:
    """How far pruning has gone, as a fraction in [0, 1], at a time in epochs.

    Before `start_epoch` nothing is pruned; from `end_epoch` on everything
    that can go is gone (one binary convolution per layer is left). Time is
    in epochs since the start of training, fractions allowed for per-step
    pruning. Subclasses give the curve in between by overriding
    `fraction(progress)`, progress going from 0 at `start_epoch` to 1 at
    `end_epoch`; register them with `tfbin.registry.register` so callbacks
    that hold them serialize.
    """

    def __init__(self, start_epoch, end_epoch):
        self.start_epoch = check_int("start_epoch", start_epoch, minimum=0)
        self.end_epoch = check_int("end_epoch", end_epoch, minimum=0)
        if self.start_epoch >= self.end_epoch:
            raise ValueError(f"start_epoch ({start_epoch}) must be smaller than end_epoch ({end_epoch})")

    def fraction(self, progress):
        """The pruned fraction at `progress` in [0, 1] between start and end."""
        raise NotImplementedError(f"{type(self).__name__} must implement fraction(progress)")

    def __call__(self, epoch):
        progress = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        return float(self.fraction(min(max(progress, 0.0), 1.0)))

    def live_count(self, total, epoch):
        """Live convolutions out of `total` at `epoch`: all before the start, one from the end."""
        return total - int(np.floor((total - 1) * self(epoch) + 1e-9))

    def get_config(self):
        return {"start_epoch": self.start_epoch, "end_epoch": self.end_epoch}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register
class LinearSchedule(PruningSchedule):
    """Prunes at a constant rate from `start_epoch` to `end_epoch`."""

    def fraction(self, progress):
        return progress


@register
class PolynomialSchedule(PruningSchedule):
    """1 - (1 - progress) ** power, like TF Model Optimization's PolynomialDecay.

    Prunes fast early and slowly near the end.
    """

    def __init__(self, start_epoch, end_epoch, power=3):
        super().__init__(start_epoch, end_epoch)
        self.power = check_number("power", power, positive=True)

    def fraction(self, progress):
        return 1.0 - (1.0 - progress) ** self.power

    def get_config(self):
        return {**super().get_config(), "power": self.power}


# The names that stand for pruning schedule classes where a schedule is asked for.
PRUNING_SCHEDULES = {"linear": LinearSchedule, "polynomial": PolynomialSchedule}


def get_schedule(schedule, start_epoch=None, end_epoch=None):
    """A `PruningSchedule`: `schedule` itself, or the one `PRUNING_SCHEDULES` names over the given epochs."""
    if isinstance(schedule, PruningSchedule):
        if start_epoch is not None or end_epoch is not None:
            raise ValueError(
                "start_epoch and end_epoch belong to the schedule object when one is given; "
                f"got a {type(schedule).__name__} and start_epoch={start_epoch!r}, end_epoch={end_epoch!r}"
            )
        return schedule
    check_one_of("schedule", schedule, tuple(PRUNING_SCHEDULES))
    if start_epoch is None or end_epoch is None:
        raise ValueError(f"schedule={schedule!r} needs start_epoch and end_epoch")
    return PRUNING_SCHEDULES[schedule](start_epoch, end_epoch)


# -- strip_pruning ---------------------------------------------------------------


def strip_pruning(model, target="lce"):
    """The export step after pruning, as in TF Model Optimization.

    Returns a copy of `model` with only plain Keras/larq layers, computing the
    same function up to float rounding, in the form that `target` ("lce":
    Larq Compute Engine, or "openvino") turns into binary operators. It runs
    the ordered export passes of `tfbin.passes.pipeline(target)`. Each layer
    goes through the export rule of its type (`tfbin.export`, where a new
    layer type registers its own; a convolution kind's in `tfbin.kinds`):

    - a `MultiBaseConv2D` becomes one larq `QuantConv2D` per distinct
      activation base, with input quantizer `ShiftedSign(v_n)` and its live
      weight bases B_m stacked along the output channels, each scaled per
      channel by gamma_mn * alpha_m * beta_n (activation bases with equal
      thresholds are one binary tensor: their scales add), followed by a sum
      of the slices. After `PruneToBinary` has finished that is one
      `QuantConv2D` per layer. A BatchNormalization that alone reads a layer
      with more than one slice folds into its kernels and bias (LCE folds it
      by itself after a single binary convolution). Masks, importance scores
      and dead bases are gone.
    - a larq `QuantDense` or `QuantConv1D` with binary input and kernel
      becomes a binary `QuantConv2D` between two reshapes (LCE has no binary
      dense or 1D convolution).
    - a `SubBitConv2D` (or a larq `QuantConv2D` with IR-Net's `LibraSign` or
      `ErrorDecaySign`) becomes a larq `QuantConv2D` of the same name whose
      kernel is the +-scale kernel the layer computes with (for a sub-bit
      layer: its chosen codebook members) and whose input quantizer is
      `ste_sign`.
    - STQ masks (`tfbin.stq.MaskedQuantConv2D`) are applied by removing the
      masked 2D filters (`tfbin.shrink.remove_masked_filters`).
    - for LCE, dilated binary convolutions that read one tensor with the same
      settings are merged into one, whose output channels are sliced apart.
    - for OpenVINO, a float "same" convolution that reads a ZeroPadding layer
      gets its padding as a ZeroPadding layer of its own before a "valid"
      convolution (OpenVINO's PadFusion would drop it).

    ```python
    import numpy as np
    import tfbin
    from tfbin import pruning, zoo

    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=1)
    plain = pruning.strip_pruning(model)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype("float32")
    np.abs(plain.predict(x, verbose=0) - model.predict(x, verbose=0)).max()   # rounding only
    ```
    """
    return passes.run(model, target)
