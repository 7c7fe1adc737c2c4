"""Running a recipe: data, model, its method's optimizer and callbacks (`tfbin.methods`), checkpoints, logs."""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfbin import data, distribute, methods, metrics, training, zoo
from tfbin.files import write_json
from tfbin.recipes.catalog import QUICK_DATASETS, get_recipe
from tfbin.recipes.saving import EpochCheckpoint, EpochLog, discard_backup, save_model

__all__ = ["TrainingRun", "train"]


@dataclasses.dataclass
class TrainingRun:
    """What `train` produced: the trained model, its history and where the files are."""

    model: object
    history: dict
    out: str
    model_path: str | None  # out/model.keras; None on a worker that is not the chief
    recipe: object
    settings: dict
    calibration: np.ndarray  # held-out inputs, for the conversion that usually follows

    def discard_backup(self):
        """Removes `out/backup`, which `train(..., keep_backup=True)` left for a resume."""
        discard_backup(os.path.join(self.out, "backup"))


def _load(recipe, dataset, batch_size, seed, data_dir, manual_dir):
    name = dataset or recipe.dataset
    own = name == recipe.dataset
    image_size = recipe.image_size if own else recipe.quick_image_size
    if recipe.task == "classification":
        return data.load_dataset(name, batch_size=batch_size, image_size=image_size, seed=seed,
                                 data_dir=data_dir, manual_dir=manual_dir)
    return data.load_segmentation_dataset(name, batch_size=batch_size, image_size=image_size, seed=seed,
                                          data_dir=data_dir, manual_dir=manual_dir)


def _loss_and_metrics(recipe, num_classes):
    if recipe.task == "segmentation":
        loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=metrics.IGNORE_LABEL)
        return loss, [metrics.MeanIoU(num_classes)]
    return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]


def _calibration(test, limit=256):
    images = []
    for batch, _ in test:
        images.append(batch.numpy())
        if sum(len(i) for i in images) >= limit:
            break
    return np.concatenate(images)[:limit]


def train(recipe, out, epochs=None, dataset=None, strategy="default", batch_size=None, seed=0, data_dir=None,
          manual_dir=None, verbose=1, callbacks=(), keep_backup=False):
    """Trains `recipe` (a `Recipe` or its name) and writes everything under `out`; returns a `TrainingRun`.

    Arguments:
        epochs: a shorter (or longer) run; schedules and the pruning phase keep their proportions.
        dataset: "digits" for a classification recipe or "digit_scenes" for a segmentation one
            runs it end to end on bundled data, at that data's size.
        strategy: "default", "mirrored", "multiworker" (TF_CONFIG) or a `tf.distribute.Strategy`.
            The global batch is `batch_size` (default: the recipe's) times the replicas, and the
            learning rate grows in proportion.
        verbose: 0 silent, 1 Keras's progress bar, 2 one line per epoch.
        callbacks: more Keras callbacks for `fit`.
        keep_backup: leave `out/backup` in place at the end, for a caller with
            more to write (the command's .tflite): until it calls
            `TrainingRun.discard_backup()`, a kill makes the same call resume
            from the last epoch rather than train again.

    Writes `out/checkpoints/model.keras` after every epoch, `out/backup/` (Keras
    `BackupAndRestore`: the same call after a crash or a kill resumes from the
    last finished epoch, with the masks, the optimizer and the schedules as
    they were), TensorBoard logs in `out/logs/`, `out/history.csv` (one row per
    epoch, those of a resumed run included), and at the end `out/model.keras`
    and `out/run.json` (the recipe and the settings); only then is the backup
    removed. Every file is replaced in one step, so a kill never leaves half
    of one. A call whose backup holds every epoch trains no further and
    writes the end files. On a multi-worker run only the chief writes those;
    the others keep their copies in temporary folders.
    """
    recipe = get_recipe(recipe)
    if dataset is not None and dataset not in (recipe.dataset, QUICK_DATASETS[recipe.task]):
        raise ValueError(
            f"dataset for recipe {recipe.name!r} must be {recipe.dataset!r} or "
            f"{QUICK_DATASETS[recipe.task]!r} (a quick run on bundled data); got {dataset!r}"
        )
    strategy = distribute.get_strategy(strategy)
    replicas = strategy.num_replicas_in_sync
    global_batch, learning_rate = distribute.scale_for_replicas(
        batch_size or recipe.batch_size, recipe.optimizer["learning_rate"], replicas
    )
    epochs = epochs or recipe.epochs
    loaded = _load(recipe, dataset, global_batch, seed, data_dir, manual_dir)
    steps = int(loaded.train.cardinality())
    chief = distribute.is_chief(strategy)
    os.makedirs(out, exist_ok=True)
    tf.keras.utils.set_random_seed(seed)
    method = methods.get_method(recipe.method)
    with strategy.scope():
        model_kwargs = dict(recipe.model_kwargs)
        if dataset not in (None, recipe.dataset):
            model_kwargs.update(recipe.quick_model_kwargs)
        model = method.prepare_model(recipe, getattr(zoo, recipe.model)(loaded.input_shape, loaded.num_classes,
                                                                         **model_kwargs))
        loss, metric_list = _loss_and_metrics(recipe, loaded.num_classes)
        model.compile(method.optimizer(recipe, epochs, steps, learning_rate), loss, metrics=metric_list)
    os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
    fit_callbacks = [
        *method.callbacks(recipe, epochs, loaded.train, replicas == 1),
        EpochCheckpoint(os.path.join(out, "checkpoints", "model.keras"), chief),
        tf.keras.callbacks.TensorBoard(os.path.join(out, "logs")),
        *([EpochLog(os.path.join(out, "history.csv"))] if chief else []),
        # After the files above: an epoch the backup counts as done is in them.
        # Removed only once the end files are written (below).
        tf.keras.callbacks.BackupAndRestore(os.path.join(out, "backup"), delete_checkpoint=False),
        *callbacks,
    ]
    verbose, progress = training.fit_progress(verbose)
    history = model.fit(loaded.train, validation_data=loaded.test, epochs=epochs,
                        callbacks=[*fit_callbacks, *progress], verbose=verbose)
    settings = {
        "epochs": epochs, "dataset": dataset or recipe.dataset, "replicas": replicas,
        "global_batch_size": global_batch, "learning_rate": learning_rate, "seed": seed,
    }
    model_path = os.path.join(out, "model.keras")
    save_model(model, model_path, chief)
    run = TrainingRun(model=model, history=history.history, out=out, model_path=model_path if chief else None,
                      recipe=recipe, settings=settings, calibration=_calibration(loaded.test))
    if chief:
        write_json(os.path.join(out, "run.json"), {"recipe": dataclasses.asdict(recipe), "settings": settings})
        if not keep_backup:
            run.discard_backup()
    return run
