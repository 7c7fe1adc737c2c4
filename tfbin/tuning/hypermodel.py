"""`BopHyperModel`: a model-building function plus a Bop search space, for Keras Tuner."""
import tensorflow as tf

from tfbin import optimizers
from tfbin.tuning._keras_tuner import keras_tuner
from tfbin.tuning.space import get_space
from tfbin.validation import check_int

__all__ = ["BopHyperModel"]


class BopHyperModel(keras_tuner.HyperModel):
    """Adds a Bop `SearchSpace` to a model-building function.

    Each trial builds `build_model(hp)` (a tf.keras model; it may declare
    hyperparameters of its own in `hp`) and compiles it with
    `tfbin.optimizers.bop_optimizer` at the trial's point of the space.

    Arguments:
        build_model: function of a `keras_tuner.HyperParameters`, returns an
            uncompiled tf.keras model.
        space: a `SearchSpace` or a name in `PRESETS`.
        epochs: with `steps_per_epoch`, the run that "step" and "linear"
            schedules span; needed for those.
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

    hypermodel = BopHyperModel(lambda hp: zoo.digits_resnet(width=8), "pabt-cifar10",
                               epochs=5, steps_per_epoch=20)
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=3, overwrite=True)
    ```
    """

    def __init__(self, build_model, space="quick", epochs=None, steps_per_epoch=None, loss=None,
                 metrics=("accuracy",), seed=None, name="bop"):
        super().__init__(name=name)
        if not callable(build_model):
            raise ValueError(f"build_model must be a function of hp that returns a model; got {build_model!r}")
        self.build_model = build_model
        self.space = get_space(space)
        if self.space.schedule != "constant":
            # The schedule spans the run, so its length must be known.
            for arg, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                check_int(f"{arg} (for the {self.space.schedule!r} schedule)", value, minimum=1)
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.loss = loss
        self.metrics = list(metrics)
        self.seed = seed

    def build(self, hp):
        values = self.space.declare(hp)
        if self.seed is not None:
            tf.keras.utils.set_random_seed(self.seed)
        model = self.build_model(hp)
        if not isinstance(model, tf.keras.Model):
            raise TypeError(
                f"build_model must return a tf.keras (tf_keras) Model, which Larq's Bop "
                f"trains; got {type(model).__module__}.{type(model).__name__}"
            )
        model.compile(
            optimizers.bop_optimizer(**self.optimizer_kwargs(values)),
            self.loss or tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=list(self.metrics),
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        history = model.fit(*args, **kwargs)
        # keras_tuner keeps only the metrics of the best epoch. Two per-epoch
        # "metrics" carry what a results table needs through it: the epoch
        # itself (so: which epoch was best) and how far the trial trained.
        history.history["epoch"] = [epoch + 1 for epoch in history.epoch]
        history.history["epochs"] = [history.epoch[-1] + 1] * len(history.epoch)
        return history

    def optimizer_kwargs(self, values):
        """The `bop_optimizer` arguments for the hyperparameter `values` of a trial."""
        return self.space.optimizer_kwargs(values, self.epochs, self.steps_per_epoch)
