"""Search Bop's hyperparameters with Keras Tuner.

PaBT (supplementary S1 and Table 1) picks Adam's or AMSGrad's learning rate eta,
Bop's adaptivity rate phi (larq's `gamma`) and threshold tau, and the optimizer
of the BatchNorm and scaling parameters, by search. A `SearchSpace` says which
values to try and how eta and phi decay over the run; `PRESETS` holds the
grids of the paper and a small one for digits. `BopHyperModel` adds that space
to a model-building function and compiles each trial with
`tfbin.optimizers.bop_optimizer`; it works with Keras Tuner's GridSearch,
RandomSearch, BayesianOptimization and Hyperband. `tune` runs a search (or
resumes one) and writes its results.

Import this module before `keras_tuner`: it makes Keras Tuner work on the
tf.keras (tf_keras) models that Larq needs (see `_import_keras_tuner`).

```python
import tfbin
from tfbin import data, tuning, zoo

digits = data.load_dataset("digits", batch_size=64)
search = tuning.tune(
    lambda hp: zoo.digits_resnet(width=8),
    digits.train, digits.test, out="tune-out", space="quick", max_trials=2, epochs=1,
)
print(search.best["best_val_accuracy"])
print(search.code)  # the best optimizer, as code to paste
```
"""
import csv
import dataclasses
import functools
import io
import json
import math
import numbers
import os
import sys

__all__ = [
    "DIMENSIONS",
    "PRESETS",
    "TUNERS",
    "BopHyperModel",
    "Search",
    "SearchSpace",
    "get_space",
    "make_tuner",
    "optimizer_code",
    "trial_rows",
    "tune",
    "write_results",
]


def _import_keras_tuner():
    """Imports keras_tuner so that it drives tf.keras (tf_keras), not Keras 3.

    keras_tuner picks its Keras once, while it is imported: its
    `keras_tuner.src.backend.config` does `import keras` and takes the Keras 3
    code path when that package reports a 3.x version. TensorFlow 2.16 always
    installs Keras 3, so keras_tuner then checks models against Keras 3's
    `Model`, uses Keras 3 callbacks and `clear_session`, and refuses the
    tf_keras models Larq builds (keras-tuner#1039, open). keras_tuner has a
    complete tf.keras code path of its own (the one it uses under Keras 2) but
    no setting to choose it. So for the duration of that one import, `keras`
    names the tf_keras package (which has no `version()`, so keras_tuner takes
    its tf.keras path and imports `tensorflow.keras`, which is tf_keras because
    tfbin set TF_USE_LEGACY_KERAS); then `keras` is put back. Of the modules
    loaded meanwhile only keras_tuner's config keeps the substitute (the tests
    check this), and `import keras` still gives Keras 3 to everyone else.
    Whoever imports keras_tuner after this gets the same, tf.keras-driven module.
    """
    module = sys.modules.get("keras_tuner")
    if module is None:
        import tf_keras

        previous = sys.modules.get("keras")
        sys.modules["keras"] = tf_keras
        try:
            import keras_tuner as module
        finally:
            if previous is None:
                del sys.modules["keras"]
            else:
                sys.modules["keras"] = previous
    from keras_tuner.src.backend import config

    if config.multi_backend():
        raise ImportError(
            "tfbin.tuning must be imported before keras_tuner: keras_tuner was "
            "already imported with Keras 3 and would refuse tf.keras models "
            "(the ones Larq and tfbin build). Import tfbin.tuning first, then "
            "import keras_tuner as usual."
        )
    return module


keras_tuner = _import_keras_tuner()

import tensorflow as tf  # noqa: E402
from keras_tuner.src.tuners.gridsearch import LinkedList  # noqa: E402

from tfbin import optimizers, plots  # noqa: E402
from tfbin.convert.converter import write_atomic  # noqa: E402

# The searchable dimensions, named after `bop_optimizer`'s arguments.
DIMENSIONS = ("learning_rate", "gamma", "threshold", "optimizer", "final_learning_rate", "final_gamma")
TUNERS = ("grid", "random", "bayesian", "hyperband")
_FLOAT_DIMENSIONS = tuple(d for d in DIMENSIONS if d != "optimizer")
_LINEAR_ONLY = ("final_learning_rate", "final_gamma")


def _is_positive_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values a search tries for Bop + Adam/AMSGrad, and their schedules.

    Each dimension is a sequence of values to choose from; a dimension with
    one value is fixed. Grid search tries every combination (`size` of them).

    Arguments:
        learning_rate: initial eta of Adam/AMSGrad.
        gamma: initial adaptivity rate phi of Bop.
        threshold: Bop's threshold tau (constant over the run).
        optimizer: "adam" and/or "amsgrad", for everything that is not binary.
        schedule: how eta and phi decay: "constant", "step" (x `decay_rate`
            every `decay_period` of the run) or "linear" (down to
            `final_learning_rate` and `final_gamma` at the end of the run).
        final_learning_rate, final_gamma: the "linear" schedule's end values.
        decay_period: for "step", the fraction of the run between decays, so a
            short run decays as often as the long run it stands for (PaBT: 100
            of 500 epochs is 0.2).
        decay_rate: for "step", the factor of each decay.
        description: one line for listings and reports.

    ```python
    space = SearchSpace(learning_rate=[1e-3, 1e-2], gamma=[1e-3], threshold=[1e-6, 1e-8])
    space.size  # 4
    ```
    """

    learning_rate: tuple = (1e-3,)
    gamma: tuple = (1e-3,)
    threshold: tuple = (1e-7,)
    optimizer: tuple = ("adam",)
    schedule: str = "constant"
    final_learning_rate: tuple = ()
    final_gamma: tuple = ()
    decay_period: float = 0.2
    decay_rate: float = 0.1
    description: str = ""

    def __post_init__(self):
        for name in DIMENSIONS:
            values = getattr(self, name)
            if isinstance(values, (str, numbers.Number)):
                values = (values,)
            object.__setattr__(self, name, tuple(values))
        if self.schedule not in optimizers.SCHEDULES:
            raise ValueError(
                f"schedule must be one of {', '.join(optimizers.SCHEDULES)}; got {self.schedule!r}"
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
            for value in getattr(self, name):
                if not _is_positive_number(value):
                    raise ValueError(f"{name} values must be positive numbers; got {value!r}")
        for name in ("gamma", "final_gamma"):
            values = getattr(self, name)
            if any(value > 1 for value in values):
                raise ValueError(f"{name} values must be at most 1 (Bop's adaptivity rate); got {list(values)}")
        for value in self.optimizer:
            if value not in optimizers.OPTIMIZERS:
                raise ValueError(
                    f"optimizer values must be among {', '.join(optimizers.OPTIMIZERS)}; got {value!r}"
                )
        if self.schedule != "linear":
            for name in _LINEAR_ONLY:
                if getattr(self, name):
                    raise ValueError(
                        f"{name} only applies to schedule='linear'; got schedule={self.schedule!r}"
                    )
        else:
            for final, initial in (("final_learning_rate", "learning_rate"), ("final_gamma", "gamma")):
                if max(getattr(self, final)) > min(getattr(self, initial)):
                    raise ValueError(
                        f"every {final} must be at most every {initial} (a linear decay "
                        f"goes down); got {final}={list(getattr(self, final))}, "
                        f"{initial}={list(getattr(self, initial))}"
                    )
        if not (_is_positive_number(self.decay_period) and self.decay_period <= 1):
            raise ValueError(f"decay_period must be a fraction of the run in (0, 1]; got {self.decay_period!r}")
        if not (_is_positive_number(self.decay_rate) and self.decay_rate <= 1):
            raise ValueError(f"decay_rate must be in (0, 1]; got {self.decay_rate!r}")

    @property
    def dimensions(self):
        """The names of the dimensions this space uses."""
        if self.schedule == "linear":
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
        else:
            kwargs.update(final_learning_rate=values["final_learning_rate"], final_gamma=values["final_gamma"])
        return kwargs


PRESETS = {
    "quick": SearchSpace(
        learning_rate=(1e-2, 1e-3),
        gamma=(1e-2, 1e-3),
        threshold=(1e-6, 1e-8),
        description="8 points for runs of a few epochs (digits): eta, phi and tau around Bop's defaults",
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


class BopHyperModel(keras_tuner.HyperModel):
    """Adds a Bop `SearchSpace` to a model-building function.

    Each trial builds `build_model(hp)` (a tf.keras model; it may declare
    hyperparameters of its own in `hp`) and compiles it with
    `tfbin.optimizers.bop_optimizer` at the trial's point of the space.

    Arguments:
        build_model: function of a `keras_tuner.HyperParameters`, returns an
            uncompiled tf.keras model.
        space: a `SearchSpace` or a name in `PRESETS`.
        epochs, steps_per_epoch: the run that "step" and "linear" schedules
            span; needed for those.
        loss: defaults to sparse categorical cross-entropy on logits (the
            output of tfbin.zoo models).
        metrics: compiled metrics; the default objective is "val_accuracy".
        seed: when set, every trial starts from the same random state, so
            trials differ by their hyperparameters only.

    ```python
    hypermodel = BopHyperModel(lambda hp: zoo.digits_resnet(width=8), "pabt-cifar10",
                               epochs=5, steps_per_epoch=20)
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=3)
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
            for arg, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(
                        f"{arg} must be a positive int for the {self.space.schedule!r} schedule; got {value!r}"
                    )
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


class _ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """keras_tuner's grid oracle, able to go on after it is reloaded.

    GridSearchOracle keeps its place in the grid (the trials in grid order and
    the ones whose successor is still to be generated) in memory only, not in
    its saved state, so a reloaded one finds nothing to do and stops at once.
    Both are rebuilt here from the reloaded trials, which is what they would
    hold had the search never stopped (keras-tuner is pinned to 1.4.8).
    """

    def set_state(self, state):
        super().set_state(state)
        values = {trial_id: self.trials[trial_id].hyperparameters.values for trial_id in self.start_order}
        tried = [trial_id for trial_id in self.start_order if values[trial_id]]
        ordered = sorted(tried, key=functools.cmp_to_key(lambda a, b: self._compare(values[a], values[b])))
        self._ordered_ids = LinkedList()
        for trial_id in ordered:
            self._ordered_ids.insert(trial_id)
        self._populate_next = [trial_id for trial_id in self.end_order if trial_id in tried]


def _check_tuner(tuner, max_trials):
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {', '.join(TUNERS)}; got {tuner!r}")
    if max_trials is not None and (
        isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1
    ):
        raise ValueError(f"max_trials must be a positive int or None; got {max_trials!r}")


def make_tuner(hypermodel, tuner="grid", max_trials=None, directory=".", project_name="search",
               overwrite=False, objective="val_accuracy", seed=0, max_epochs=None, **kwargs):
    """A Keras Tuner tuner of kind `tuner` (one of `TUNERS`) for `hypermodel`.

    With `overwrite=False` an existing project in `directory/project_name` is
    reloaded, and its search goes on up to `max_trials` (trials in all, the
    finished ones included); finished trials are not run again. `max_trials`
    None means the whole grid ("grid"), the space's `size` ("random",
    "bayesian"), or Hyperband's own budget ("hyperband", whose `max_epochs`
    defaults to the hypermodel's `epochs`). Other `kwargs` go to the tuner.
    """
    _check_tuner(tuner, max_trials)
    if isinstance(objective, str):
        objective = keras_tuner.Objective(objective, "min" if objective.endswith("loss") else "max")
    common = dict(directory=directory, project_name=project_name, overwrite=overwrite, **kwargs)
    space = getattr(hypermodel, "space", None)
    if tuner == "grid":
        oracle = _ResumableGridSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
        return keras_tuner.Tuner(oracle=oracle, hypermodel=hypermodel, **common)
    if tuner in ("random", "bayesian"):
        if max_trials is None:
            if space is None:
                raise ValueError(f"max_trials is needed for the {tuner!r} tuner")
            max_trials = space.size
        cls = keras_tuner.RandomSearch if tuner == "random" else keras_tuner.BayesianOptimization
        return cls(hypermodel, objective=objective, max_trials=max_trials, seed=seed, **common)
    max_epochs = max_epochs or getattr(hypermodel, "epochs", None)
    if not max_epochs:
        raise ValueError("max_epochs (or the hypermodel's epochs) is needed for the 'hyperband' tuner")
    result = keras_tuner.Hyperband(hypermodel, objective=objective, max_epochs=max_epochs, seed=seed, **common)
    # Hyperband takes no max_trials, but its oracle honours the attribute.
    result.oracle.max_trials = max_trials
    return result


def trial_rows(tuner):
    """One dict per finished trial, in trial order: "trial", the hyperparameters,
    "best_<objective>", "best_epoch" and "epochs" (how far the trial trained)."""
    objective = tuner.oracle.objective.name
    rows = []
    for trial_id in sorted(tuner.oracle.trials, key=int):
        trial = tuner.oracle.trials[trial_id]
        if trial.status != "COMPLETED":
            continue
        # Numbered from 1, as keras_tuner's progress display counts them.
        row = {"trial": int(trial_id) + 1}
        # Hyperband's bookkeeping ("tuner/epochs", ...) is not a hyperparameter.
        row.update({k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")})
        row[f"best_{objective}"] = trial.metrics.get_best_value(objective)
        for name, column in (("epoch", "best_epoch"), ("epochs", "epochs")):
            value = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
            row[column] = None if value is None else int(value)
        rows.append(row)
    return rows


def _is_metric(column):
    return column.startswith("best_") or column == "epochs"


def _columns(rows):
    """"trial", the hyperparameters in order of appearance, then the metrics."""
    columns = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return [c for c in columns if not _is_metric(c)] + [c for c in columns if _is_metric(c)]


def _best(rows, objective, direction="max"):
    scored = [row for row in rows if row.get(f"best_{objective}") is not None]
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda row: row[f"best_{objective}"])


def _cell(column, value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if _is_metric(column) else f"{value:g}"
    return str(value)


def optimizer_code(kwargs, extra=None):
    """Python source that builds the optimizer of `bop_optimizer(**kwargs)`.

    `extra` (other hyperparameters of the trial, such as the model's) are
    listed in a comment.
    """
    lines = ["import tfbin", "from tfbin import optimizers", ""]
    if extra:
        lines.append("# other hyperparameters: " + ", ".join(f"{k}={v!r}" for k, v in extra.items()))
    lines.append("optimizer = optimizers.bop_optimizer(")
    lines.extend(f"    {name}={value!r}," for name, value in kwargs.items())
    lines.append(")")
    return "\n".join(lines) + "\n"


def write_results(out, rows, objective="val_accuracy", direction="max", title="Bop hyperparameter search",
                  notes=(), code=None):
    """Writes `out/results.csv`, `out/results.md` and `out/val_accuracy.png`, each atomically.

    `rows` are `trial_rows`; the best by `objective` (to `direction`, "max" or
    "min") is marked. `notes` are lines put under the title of the Markdown
    report and `code` (the best configuration) at its end.
    """
    columns = _columns(rows) or ["trial", f"best_{objective}", "best_epoch", "epochs"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(os.path.join(out, "results.csv"), text.getvalue().encode())

    best = _best(rows, objective, direction)
    lines = [f"# {title}", ""] + [f"{note}  " for note in notes]
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for row in rows:
        cells = [_cell(c, row.get(c)) for c in columns]
        if row is best:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if best is not None:
        lines += ["", f"Best (bold): trial {best['trial']}, {objective} {best[f'best_{objective}']:.4f}."]
    if code:
        lines += ["", "```python", code.rstrip("\n"), "```"]
    write_atomic(os.path.join(out, "results.md"), ("\n".join(lines) + "\n").encode())
    _plot(rows, objective, best, title, os.path.join(out, "val_accuracy.png"))


def _plot(rows, objective, best, title, path):
    fig, ax = plots.plt.subplots(figsize=(max(5, 0.45 * len(rows) + 2), 3.5))
    trials = [str(row["trial"]) for row in rows]
    values = [row[f"best_{objective}"] for row in rows]
    colours = ["C1" if row is best else "C0" for row in rows]
    ax.bar(trials, values, color=colours)
    ax.set(xlabel="trial", ylabel=f"best {objective}", title=title)
    if objective.endswith("accuracy"):
        ax.set_ylim(0, 1)
    plots.save_figure(fig, path)


@dataclasses.dataclass
class Search:
    """What `tune` found: the finished trials, the best one and its optimizer as code."""

    rows: list
    best: dict | None
    code: str | None
    tuner: object


def _steps_per_epoch(train):
    if isinstance(train, tf.data.Dataset):
        steps = int(train.cardinality())
        if steps > 0:
            return steps
    return None


def _check_settings(out, settings):
    """Stores `settings` in `out/settings.json`, or checks them against a search already there."""
    path = os.path.join(out, "settings.json")
    settings = json.loads(json.dumps(settings))
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        if changed:
            details = "; ".join(f"{k}: {stored.get(k)!r} there, {settings.get(k)!r} now" for k in changed)
            raise ValueError(
                f"{out} holds a search with other settings ({details}). Resume it with the "
                f"same settings (only max_trials may change), or choose another directory"
            )
    elif os.path.exists(os.path.join(out, "search")):
        raise ValueError(f"{out}/search exists but {path} does not: not a directory tfbin.tuning wrote")
    else:
        write_atomic(path, (json.dumps(settings, indent=2) + "\n").encode())


def tune(build_model, train, validation, out, space="quick", tuner="grid", max_trials=None, epochs=3,
         steps_per_epoch=None, seed=0, verbose=1, settings=None):
    """Searches `space` for the Bop hyperparameters of `build_model`, or resumes that search.

    Trains each trial for `epochs` epochs on the tf.data `train` and scores it
    by its best val accuracy on `validation`. Keras Tuner's files go to
    `out/search`; `out/results.csv`, `out/results.md` and `out/val_accuracy.png`
    list the finished trials. Called again with the same `out` (and the same
    settings), it reloads the search and runs only the trials still missing to
    reach the new `max_trials` (see `make_tuner`).

    Arguments:
        build_model: function of `hp` returning an uncompiled tf.keras model.
        space: a `SearchSpace` or a name in `PRESETS`.
        tuner: one of `TUNERS`.
        steps_per_epoch: for the "step" and "linear" schedules; taken from
            `train` when that is a dataset of known length.
        seed: every trial starts from this random state.
        settings: a dict describing the rest of the run (data, model), stored
            and checked on resume like `space`, `tuner`, `epochs` and `seed`.

    Returns:
        A `Search`.
    """
    space = get_space(space)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    steps_per_epoch = steps_per_epoch or _steps_per_epoch(train)
    hypermodel = BopHyperModel(build_model, space, epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed)
    _check_tuner(tuner, max_trials)
    os.makedirs(out, exist_ok=True)
    run = {"space": dataclasses.asdict(space), "tuner": tuner, "epochs": epochs, "seed": seed}
    _check_settings(out, {**run, **(settings or {})})
    kt_tuner = make_tuner(hypermodel, tuner, max_trials, directory=out, project_name="search", seed=seed)
    if verbose:
        limit = kt_tuner.oracle.max_trials
        print(
            f"{tuner} search over {space.size} points: {len(trial_rows(kt_tuner))} trials done, "
            + (f"up to {limit} in all" if limit else "going on until the tuner is done")
        )
    kt_tuner.search(train, validation_data=validation, epochs=epochs, verbose=verbose)
    rows = trial_rows(kt_tuner)
    objective = kt_tuner.oracle.objective
    best = _best(rows, objective.name, objective.direction)
    code = None
    if best is not None:
        extra = {k: v for k, v in best.items() if k not in DIMENSIONS and k != "trial" and not _is_metric(k)}
        code = optimizer_code(hypermodel.optimizer_kwargs(best), extra)
    notes = [space.description] if space.description else []
    notes += [
        f"{k}: {v}"
        for k, v in {"tuner": tuner, "epochs per trial": epochs, "seed": seed, **(settings or {})}.items()
        if v is not None
    ]
    write_results(out, rows, objective.name, objective.direction, notes=notes, code=code,
                  title=f"Bop hyperparameter search ({len(rows)} trials)")
    return Search(rows=rows, best=best, code=code, tuner=kt_tuner)
