"""`tune`: run a search of Bop hyperparameters, or resume it, and write its results."""
import dataclasses
import json
import os

import tensorflow as tf

from tfbin.files import write_json
from tfbin.tuning import distributed
from tfbin.tuning.hypermodel import BopHyperModel
from tfbin.tuning.results import best_row, is_metric, optimizer_code, trial_rows, write_results
from tfbin.tuning.space import DIMENSIONS, get_space
from tfbin.tuning.tuners import check_tuner, make_tuner
from tfbin.validation import check_int

__all__ = ["Search", "tune", "tuner_role"]


@dataclasses.dataclass
class Search:
    """What `tune` found: the finished trials, the best one and its optimizer as code."""

    rows: list
    best: dict | None
    code: str | None
    tuner: object
    role: str | None = None  # "chief" or "worker" in a distributed search


def tuner_role():
    """"chief" or "worker" when Keras Tuner's distributed mode is on, else None.

    Keras Tuner distributes a search when KERASTUNER_ORACLE_IP and
    KERASTUNER_ORACLE_PORT name the chief's oracle and KERASTUNER_TUNER_ID
    names this process ("chief", or any other id for a worker): the chief
    serves the oracle, the workers train the trials.
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _steps_per_epoch(train):
    if isinstance(train, tf.data.Dataset):
        steps = int(train.cardinality())
        if steps > 0:
            return steps
    return None


def _space_settings(space):
    """`space` as `settings.json` holds it: final_fraction only where it applies.

    A space that does not decay to a fraction of its initial values is stored
    as it was before SearchSpace had final_fraction, so those searches resume.
    """
    settings = dataclasses.asdict(space)
    if space.schedule != "linear" or space.final_learning_rate:
        del settings["final_fraction"]
    return settings


def _check_settings(out, settings, store=True):
    """Checks `settings` against those of a search already in `out`, or stores them in `out/settings.json`."""
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
    elif os.path.exists(os.path.join(out, "search", "oracle.json")) and store:
        # A search's state without its settings: not a directory tfbin.tuning
        # wrote. (The folder alone may be from this search's own workers.)
        raise ValueError(f"{out}/search holds a search but {path} is missing: not a directory tfbin.tuning wrote")
    elif store:
        write_json(path, settings)


def _serve(kt_tuner, verbose, worker_timeout):
    """The chief's part of `Tuner.search`, with a server that outlives dead workers."""
    kt_tuner.oracle.verbose = verbose
    kt_tuner.save()
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    distributed.serve(kt_tuner.oracle, address, worker_timeout)


def tune(build_model, train, validation, out, space="quick", tuner="grid", max_trials=None, epochs=3,
         steps_per_epoch=None, seed=0, verbose=1, settings=None, worker_timeout=distributed.DEFAULT_WORKER_TIMEOUT):
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
        steps_per_epoch: for the "step" and "linear" schedules (the presets'
            and `SearchSpace`'s default: see there), which span each trial's
            run; taken from `train` when that is a dataset of known length.
        seed: every trial starts from this random state.
        settings: a dict describing the rest of the run (data, model), stored
            and checked on resume like `space`, `tuner`, `epochs` and `seed`.
        worker_timeout: in a distributed search, seconds of silence after
            which the chief takes a worker for dead (give every process the
            same value).

    Distributed: with Keras Tuner's environment variables set (see
    `tuner_role`), the chief serves the search and, once every trial is done,
    writes the results; each worker trains trials and returns a `Search` with
    no rows. Give them all the same `out` (a shared folder) and arguments.
    A worker that dies mid-trial loses nothing: restarted with the same
    KERASTUNER_TUNER_ID it runs that trial again, and after `worker_timeout`
    seconds without a word from it the chief gives the trial to another
    worker (`tfbin.tuning.distributed`); the other workers wait for that
    while trials still run.

    Returns:
        A `Search`.
    """
    space = get_space(space)
    check_int("epochs", epochs, minimum=1)
    steps_per_epoch = steps_per_epoch or _steps_per_epoch(train)
    if space.schedule != "constant" and steps_per_epoch is None:
        raise ValueError(
            f"steps_per_epoch is needed: the {space.schedule!r} schedule spans each trial's run, and train "
            "is not a dataset of known length"
        )
    hypermodel = BopHyperModel(build_model, space, epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed)
    check_tuner(tuner, max_trials)
    os.makedirs(out, exist_ok=True)
    run = {"space": _space_settings(space), "tuner": tuner, "epochs": epochs, "seed": seed}
    role = tuner_role()
    _check_settings(out, {**run, **(settings or {})}, store=role != "worker")
    kt_tuner = make_tuner(hypermodel, tuner, max_trials, directory=out, project_name="search", seed=seed)
    if role == "worker":
        kt_tuner.oracle = distributed.WorkerClient(kt_tuner.oracle._oracle, worker_timeout)
        kt_tuner.search(train, validation_data=validation, epochs=epochs, verbose=verbose)
        return Search(rows=[], best=None, code=None, tuner=kt_tuner, role=role)
    if verbose:
        limit = kt_tuner.oracle.max_trials
        print(
            f"{tuner} search over {space.size} points: {len(trial_rows(kt_tuner))} trials done, "
            + (f"up to {limit} in all" if limit else "going on until the tuner is done")
        )
    if role == "chief":
        _serve(kt_tuner, verbose, worker_timeout)
    else:
        kt_tuner.search(train, validation_data=validation, epochs=epochs, verbose=verbose)
    rows = trial_rows(kt_tuner)
    objective = kt_tuner.oracle.objective
    best = best_row(rows, objective.name, objective.direction)
    code = None
    if best is not None:
        extra = {k: v for k, v in best.items() if k not in DIMENSIONS and k != "trial" and not is_metric(k)}
        code = optimizer_code(hypermodel.optimizer_kwargs(best), extra)
    notes = [space.description] if space.description else []
    notes += [
        f"{k}: {v}"
        for k, v in {"tuner": tuner, "epochs per trial": epochs, "seed": seed, **(settings or {})}.items()
        if v is not None
    ]
    write_results(out, rows, objective.name, objective.direction, notes=notes, code=code,
                  title=f"Bop hyperparameter search ({len(rows)} trials)")
    return Search(rows=rows, best=best, code=code, tuner=kt_tuner, role=role)
