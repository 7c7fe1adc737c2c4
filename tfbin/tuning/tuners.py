"""`make_tuner`: Keras Tuner's grid, random, Bayesian and Hyperband tuners, resumable."""
import functools

from keras_tuner.src.tuners.gridsearch import LinkedList

from tfbin.choices import TUNERS
from tfbin.tuning._keras_tuner import keras_tuner
from tfbin.validation import check_int, check_one_of

__all__ = ["TUNERS", "make_tuner"]


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


def check_tuner(tuner, max_trials):
    """Checks a tuner name and its max_trials (a positive int, or None for the tuner's own budget)."""
    check_one_of("tuner", tuner, TUNERS)
    if max_trials is not None:
        check_int("max_trials", max_trials, minimum=1)


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
    check_tuner(tuner, max_trials)
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
