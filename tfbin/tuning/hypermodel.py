"""`BopHyperModel`: a model-building function plus a Bop search space, for Keras Tuner."""
import inspect
import math

import tensorflow as tf

from tfbin import optimizers
from tfbin.tuning._keras_tuner import keras_tuner
from tfbin.tuning.space import get_space
from tfbin.validation import check_int

__all__ = ["BopHyperModel"]

# Keras' `fit` defaults, for the arguments a run's length depends on.
_KERAS_EPOCHS = 1
_KERAS_BATCH_SIZE = 32


class BopHyperModel(keras_tuner.HyperModel):
    """Adds a Bop `SearchSpace` to a model-building function.

    Each trial builds `build_model(hp)` (a tf.keras model; it may declare
    hyperparameters of its own in `hp`) and compiles it with
    `tfbin.optimizers.bop_optimizer` at the trial's point of the space.

    The space's schedule (by default eta and phi decaying linearly to 1%,
    see `SearchSpace`) spans a run of `epochs` epochs of `steps_per_epoch`
    steps. What the constructor is not given, `fit` (which Keras Tuner calls
    with the arguments given to `search`) takes from the run it trains: its
    `epochs` less `initial_epoch`, and the steps per epoch of its training
    data (a `tf.data.Dataset` of known length, a `tf.keras.utils.Sequence`,
    or arrays with `batch_size` and `validation_split`; for other data pass
    `steps_per_epoch` to `search`); it then compiles the model again for
    that run.

    Arguments:
        build_model: function of a `keras_tuner.HyperParameters`, returns an
            uncompiled tf.keras model.
        space: a `SearchSpace` or a name in `PRESETS`.
        epochs: the run the schedule spans, with `steps_per_epoch`, when it
            is not the one each `fit` trains. For Hyperband, give both,
            `epochs` being its `max_epochs` (`make_tuner` takes it from
            there): a trial it continues from a checkpoint then goes on along
            the same schedule, with the optimizer state it restored. `epochs`
            is also the epochs of a trial when `search` is given none.
        steps_per_epoch: see `epochs`.
        loss: defaults to sparse categorical cross-entropy on logits (the
            output of tfbin.zoo models).
        metrics: compiled metrics; the default objective is "val_accuracy".
        seed: when set, every trial starts from the same random state, so
            trials differ by their hyperparameters only.

    ```python
    import tfbin
    from tfbin import zoo
    from tfbin.tuning import BopHyperModel
    import keras_tuner  # after tfbin.tuning

    hypermodel = BopHyperModel(lambda hp: zoo.digits_resnet(width=8), "quick")
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=3, overwrite=True)
    # tuner.search(train, validation_data=test, epochs=5): each trial decays over its 5 epochs
    ```
    """

    def __init__(self, build_model, space="quick", epochs=None, steps_per_epoch=None, loss=None,
                 metrics=("accuracy",), seed=None, name="bop"):
        super().__init__(name=name)
        if not callable(build_model):
            raise ValueError(f"build_model must be a function of hp that returns a model; got {build_model!r}")
        self.build_model = build_model
        self.space = get_space(space)
        for arg, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
            if value is not None:
                check_int(arg, value, minimum=1)
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.loss = loss
        self.metrics = list(metrics)
        self.seed = seed

    def build(self, hp):
        """The trial's model, compiled for the run given to the constructor.

        Without one (and with a schedule that is not constant) the optimizer
        holds the schedule's initial values until `fit`, which knows the run,
        compiles the model again.
        """
        values = self.space.declare(hp)
        if self.seed is not None:
            tf.keras.utils.set_random_seed(self.seed)
        model = self.build_model(hp)
        if not isinstance(model, tf.keras.Model):
            raise TypeError(
                f"build_model must return a tf.keras (tf_keras) Model, which Larq's Bop "
                f"trains; got {type(model).__module__}.{type(model).__name__}"
            )
        self._compile(model, values, self.epochs, self.steps_per_epoch)
        return model

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, the schedule spanning the run (see the class)."""
        run = inspect.signature(model.fit).bind(*args, **kwargs).arguments
        run.setdefault("epochs", self.epochs or _KERAS_EPOCHS)
        if self.space.schedule != "constant" and None in (self.epochs, self.steps_per_epoch):
            # `build` did not know the run: compile again for the one this call trains.
            epochs = self.epochs or max(run["epochs"] - run.get("initial_epoch", 0), 1)
            values = {name: hp.get(name) for name in self.space.dimensions}
            self._compile(model, values, epochs, self.steps_per_epoch or self._run_steps(run))
        history = model.fit(**run)
        # keras_tuner keeps only the metrics of the best epoch. Two per-epoch
        # "metrics" carry what a results table needs through it: the epoch
        # itself (so: which epoch was best) and how far the trial trained.
        history.history["epoch"] = [epoch + 1 for epoch in history.epoch]
        history.history["epochs"] = [history.epoch[-1] + 1] * len(history.epoch)
        return history

    def optimizer_kwargs(self, values, epochs=None, steps_per_epoch=None):
        """The `bop_optimizer` arguments for the hyperparameter `values` of a trial.

        Over a run of `epochs` and `steps_per_epoch`; by default the constructor's.
        """
        return self.space.optimizer_kwargs(values, epochs or self.epochs, steps_per_epoch or self.steps_per_epoch)

    def _compile(self, model, values, epochs, steps_per_epoch):
        kwargs = self.optimizer_kwargs(values, epochs, steps_per_epoch)
        if kwargs.get("epochs") is None or kwargs.get("steps_per_epoch") is None:
            # The run is not known yet: the schedule's initial values, until `fit`.
            kwargs = {name: kwargs[name] for name in ("learning_rate", "gamma", "threshold", "optimizer")}
        with model.distribute_strategy.scope():
            model.compile(
                optimizers.bop_optimizer(**kwargs),
                self.loss or tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=list(self.metrics),
            )

    def _run_steps(self, run):
        """Training steps per epoch of the `model.fit` arguments `run`."""
        steps = run.get("steps_per_epoch") or _steps_of(run.get("x"), run.get("batch_size"),
                                                         run.get("validation_split", 0.0))
        if steps is None:
            raise keras_tuner.errors.FatalValueError(
                f"the {self.space.schedule!r} schedule spans each trial's run, but the training data does not "
                "tell how many steps an epoch has (a generator, or a dataset of unknown or infinite length): "
                "pass steps_per_epoch to search() or to BopHyperModel"
            )
        return steps


def _steps_of(x, batch_size, validation_split):
    """The steps per epoch `model.fit` takes for the training data `x`, or None when `x` does not tell."""
    if isinstance(x, tf.data.Dataset):
        steps = int(x.cardinality())
        return steps if steps > 0 else None
    if isinstance(x, tf.keras.utils.Sequence):
        return len(x)
    if x is None:
        return None
    try:
        samples = int(tf.nest.flatten(x)[0].shape[0])
    except (AttributeError, IndexError, TypeError, ValueError):  # no arrays, or of unknown length
        return None
    # Keras trains on the first 1 - validation_split of the samples.
    samples = math.floor(samples * (1.0 - validation_split))
    return max(math.ceil(samples / (batch_size or _KERAS_BATCH_SIZE)), 1)
