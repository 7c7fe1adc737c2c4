"""Search spaces of Bop hyperparameters, and the presets of the PaBT paper.

Pure Python, so the `tfbin tune` command can list and check presets without
loading TensorFlow.

```python
from tfbin.tuning.space import PRESETS, SearchSpace

space = SearchSpace(learning_rate=[1e-2, 1e-3], gamma=[1e-3], threshold=[1e-7, 1e-8])
space.size, space.schedule, sorted(PRESETS)   # 4, 'linear', [...]
```
"""
import dataclasses
import math
import numbers

from tfbin.choices import BOP_DEFAULTS, OPTIMIZERS, SCHEDULES
from tfbin.validation import check_fraction, check_number, check_one_of

__all__ = ["DIMENSIONS", "PRESETS", "SearchSpace", "get_space"]

# The searchable dimensions, named after `tfbin.optimizers.bop_optimizer`'s arguments.
DIMENSIONS = ("learning_rate", "gamma", "threshold", "optimizer", "final_learning_rate", "final_gamma")
_FLOAT_DIMENSIONS = tuple(d for d in DIMENSIONS if d != "optimizer")
_LINEAR_ONLY = ("final_learning_rate", "final_gamma")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values a search tries for Bop + Adam/AMSGrad, and their schedules.

    Each dimension is a sequence of values to choose from; a dimension with
    one value is fixed. Grid search tries every combination (`size` of them).

    By default the space is the single point of `tfbin.optimizers.BOP_DEFAULTS`
    (eta 1e-2, phi 1e-3, tau 1e-7) and every trial decays eta and phi linearly
    to 1% of their initial values over its run, as `tfbin.training.train` does:
    with a constant eta and phi Bop flips weights up to the last step, and runs
    end lower and less steadily on held-out data
    (benchmarks/results/train_defaults.md holds the measurement).

    Arguments:
        learning_rate: initial eta of Adam/AMSGrad.
        gamma: initial adaptivity rate phi of Bop.
        threshold: Bop's threshold tau (constant over the run).
        optimizer: "adam" and/or "amsgrad", for everything that is not binary.
        schedule: how eta and phi decay over each trial's run: "linear" (the
            default: down to `final_learning_rate` and `final_gamma`, or to
            `final_fraction` of their initial values, at the end of the run),
            "step" (x `decay_rate` every `decay_period` of the run) or
            "constant".
        final_learning_rate: the "linear" schedule's end value of eta, as a
            dimension of its own. Give both final values or neither.
        final_gamma: the "linear" schedule's end value of phi; see
            `final_learning_rate`.
        final_fraction: with neither final value, the "linear" schedule ends
            eta and phi at this fraction of each trial's initial values
            (default `BOP_DEFAULTS["final_fraction"]`, 1%).
        decay_period: for "step", the fraction of the run between decays, so a
            short run decays as often as the long run it stands for (PaBT: 100
            of 500 epochs is 0.2).
        decay_rate: for "step", the factor of each decay.
        description: one line for listings and reports.

    ```python
    from tfbin.tuning.space import SearchSpace

    space = SearchSpace(learning_rate=[1e-2, 1e-3], gamma=[1e-3], threshold=[1e-7, 1e-8])
    space.size  # 4, each decayed linearly to 1% over its run
    ```
    """

    learning_rate: tuple = (BOP_DEFAULTS["learning_rate"],)
    gamma: tuple = (BOP_DEFAULTS["gamma"],)
    threshold: tuple = (BOP_DEFAULTS["threshold"],)
    optimizer: tuple = ("adam",)
    schedule: str = "linear"
    final_learning_rate: tuple = ()
    final_gamma: tuple = ()
    final_fraction: float = BOP_DEFAULTS["final_fraction"]
    decay_period: float = 0.2
    decay_rate: float = 0.1
    description: str = ""

    def __post_init__(self):
        for name in DIMENSIONS:
            values = getattr(self, name)
            if isinstance(values, (str, numbers.Number)):
                values = (values,)
            object.__setattr__(self, name, tuple(values))
        check_one_of("schedule", self.schedule, SCHEDULES)
        check_fraction("final_fraction", self.final_fraction, include_zero=True, include_one=True)
        if self.schedule == "linear" and bool(self.final_learning_rate) != bool(self.final_gamma):
            given, missing = (
                ("final_learning_rate", "final_gamma") if self.final_learning_rate
                else ("final_gamma", "final_learning_rate")
            )
            raise ValueError(
                f"{missing} needs at least one value when {given} has some; give both, or neither "
                f"to end eta and phi at final_fraction ({self.final_fraction:g}) of their initial values"
            )
        for name in self.dimensions:
            values = getattr(self, name)
            if not values:
                raise ValueError(
                    f"{name} needs at least one value: an empty dimension leaves an empty search space"
                )
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice: {list(values)}")
        for name in _FLOAT_DIMENSIONS:
            # Bop's adaptivity rate is a moving-average factor: at most 1.
            maximum = 1 if name in ("gamma", "final_gamma") else None
            for value in getattr(self, name):
                check_number(f"{name} values", value, maximum=maximum, positive=True)
        for value in self.optimizer:
            check_one_of("optimizer values", value, OPTIMIZERS)
        if self.schedule != "linear":
            for name in _LINEAR_ONLY:
                if getattr(self, name):
                    raise ValueError(
                        f"{name} only applies to schedule='linear'; got schedule={self.schedule!r}"
                    )
        elif self.final_learning_rate:
            for final, initial in (("final_learning_rate", "learning_rate"), ("final_gamma", "gamma")):
                if max(getattr(self, final)) > min(getattr(self, initial)):
                    raise ValueError(
                        f"every {final} must be at most every {initial} (a linear decay "
                        f"goes down); got {final}={list(getattr(self, final))}, "
                        f"{initial}={list(getattr(self, initial))}"
                    )
        # decay_period is the fraction of the run between two decays.
        check_fraction("decay_period", self.decay_period, include_zero=False, include_one=True)
        check_fraction("decay_rate", self.decay_rate, include_zero=False, include_one=True)

    @property
    def dimensions(self):
        """The names of the dimensions this space uses."""
        if self.schedule == "linear" and self.final_learning_rate:
            return DIMENSIONS
        return tuple(d for d in DIMENSIONS if d not in _LINEAR_ONLY)

    @property
    def size(self):
        """The number of combinations: the trials of an exhaustive grid search."""
        return math.prod(len(getattr(self, name)) for name in self.dimensions)

    def declare(self, hp):
        """Declares the dimensions in the `keras_tuner.HyperParameters` `hp`; returns this trial's values."""
        return {
            name: hp.Choice(name, values) if len(values) > 1 else hp.Fixed(name, values[0])
            for name in self.dimensions
            for values in (getattr(self, name),)
        }

    def optimizer_kwargs(self, values, epochs=None, steps_per_epoch=None):
        """The `bop_optimizer` arguments of one point of the space, over a run of `epochs`."""
        kwargs = {name: values[name] for name in ("learning_rate", "gamma", "threshold", "optimizer")}
        if self.schedule == "constant":
            return kwargs
        kwargs.update(schedule_kind=self.schedule, steps_per_epoch=steps_per_epoch, epochs=epochs)
        if self.schedule == "step":
            # `decay_every` is in whole epochs; at least one, so a 1-epoch run works.
            decay_every = max(1, round(self.decay_period * epochs)) if epochs else None
            kwargs.update(decay_every=decay_every, decay_rate=self.decay_rate)
        elif self.final_learning_rate:
            kwargs.update(final_learning_rate=values["final_learning_rate"], final_gamma=values["final_gamma"])
        else:
            kwargs.update(final_learning_rate=values["learning_rate"] * self.final_fraction,
                          final_gamma=values["gamma"] * self.final_fraction)
        return kwargs


PRESETS = {
    # The first point is BOP_DEFAULTS, so a grid search starts from the setting
    # that held (benchmarks/results/train_defaults.md), then tries one other
    # value of each.
    "quick": SearchSpace(
        learning_rate=(1e-2, 1e-3),
        gamma=(1e-3, 1e-2),
        threshold=(1e-7, 1e-8),
        schedule="linear",
        description="8 points for runs of a few epochs (digits): eta, phi and tau around tfbin's Bop defaults, "
        "eta and phi decayed linearly to 1% over the run",
    ),
    "pabt-cifar10": SearchSpace(
        learning_rate=(1e-2, 1e-3),
        gamma=(1e-3, 1e-4),
        threshold=(1e-6, 1e-7, 1e-8),
        optimizer=("adam",),
        schedule="step",
        decay_period=0.2,
        decay_rate=0.1,
        description="PaBT's CIFAR-10 grid (PaBT supplementary, S1): Adam, eta and phi x0.1 every fifth of the run",
    ),
    "pabt-imagenet": SearchSpace(
        learning_rate=(1e-3, 2.5e-3),
        gamma=(1e-4,),
        threshold=(1e-7, 1e-8),
        optimizer=("adam", "amsgrad"),
        schedule="linear",
        final_learning_rate=(5e-6, 5e-8),
        final_gamma=(1e-6, 1e-8),
        description="PaBT's ImageNet ranges (PaBT supplementary, S1): Adam or AMSGrad, eta and phi decayed linearly",
    ),
}


def get_space(space):
    """`space` itself if it is a `SearchSpace`, else the preset of that name."""
    if isinstance(space, SearchSpace):
        return space
    if space not in PRESETS:
        raise ValueError(f"unknown preset {space!r}; presets are {', '.join(sorted(PRESETS))}")
    return PRESETS[space]
