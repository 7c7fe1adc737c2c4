import csv
import dataclasses
import errno
import io
import json
import os
import subprocess
import time
import zipfile

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import tfbin
from tfbin import callbacks, cli, optimizers, recipes, zoo
from tfbin.recipes.catalog import Recipe

from _command import TFBIN, assert_one_line_per_epoch


def tiny_recipe(**changes):
    """A recipe of the catalog's shape that trains in seconds on digits."""
    fields = dict(
        name="tiny", title="tiny", source="tests", reported="-", task="classification", dataset="cifar10",
        model="digits_resnet", model_kwargs={"conv": "mbn", "weight_bases": 2, "activation_bases": 2, "width": 4},
        image_size=None, batch_size=128, epochs=3,
        optimizer={"learning_rate": 1e-3, "gamma": 1e-3, "threshold": 1e-7, "optimizer": "adam",
                   "schedule_kind": "step", "decay_fraction": 0.5, "decay_rate": 0.1},
        pruning=(0.0, 0.5),
    )
    fields.update(changes)
    return Recipe(**fields)


@pytest.mark.parametrize("name", sorted(recipes.RECIPES))
def test_every_recipe_names_a_zoo_model_and_a_valid_optimizer(name):
    recipe = recipes.RECIPES[name]
    assert callable(getattr(zoo, recipe.model))
    assert recipe.source and recipe.reported and recipe.title
    if recipe.method != "pabt":
        return  # the other methods' optimizers are built and trained in test_every_method_recipe_...
    kwargs = dict(recipe.optimizer)
    if kwargs.get("schedule_kind") == "step":
        kwargs["decay_every"] = round(kwargs.pop("decay_fraction") * recipe.epochs)
    if kwargs.get("schedule_kind", "constant") != "constant":
        kwargs.update(steps_per_epoch=10, epochs=recipe.epochs)
    optimizers.bop_optimizer(**kwargs)


def test_pabt_cifar10_follows_table_1_of_seed_000():
    recipe = recipes.RECIPES["pabt-resnet20-cifar10"]
    assert (recipe.epochs, recipe.dataset, recipe.model) == (500, "cifar10", "resnet20")
    opt = recipe.optimizer
    assert (opt["learning_rate"], opt["gamma"], opt["threshold"], opt["optimizer"]) == (1e-3, 1e-3, 1e-7, "adam")
    assert opt["schedule_kind"] == "step" and opt["decay_fraction"] * recipe.epochs == 100
    imagenet = recipes.RECIPES["pabt-resnet18-imagenet"].optimizer
    assert imagenet["optimizer"] == "amsgrad" and imagenet["final_gamma"] == 1e-8


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(task="detection"), "task must be one of"),
        (dict(dataset="mnist"), "dataset must be one of"),
        (dict(pruning=(0.6, 0.2)), "pruning must start before it ends"),
        (dict(epochs=0), "epochs must be an int >= 1"),
        (dict(method="lottery"), "method must be one of pabt, stq, snn, bnew"),
    ],
)
def test_bad_recipes_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        tiny_recipe(**changes)


def test_a_recipe_refuses_data_it_was_not_written_for(tmp_path):
    with pytest.raises(ValueError, match="must be 'cifar10' or 'digits'"):
        recipes.train("pabt-resnet20-cifar10", tmp_path, dataset="digit_scenes")


# `tfbin train --recipe pabt-resnet20-cifar10 --dataset digits --epochs 7`: warm-up in epoch 0, pruning
# in epochs 1 and 2 (`PruneToBinary.for_epochs(7)`), then fine-tuning of the 1/1 network.
QUICK_PABT = ["train", "--recipe", "pabt-resnet20-cifar10", "--dataset", "digits", "--epochs", "7"]
# The last val_accuracy of that command run without interruption (seeds 0, 1, 2 and 4: 0.820, 0.844, 0.865,
# 0.848): lowest and highest. A resumed run sees other batches after the kill, much as another seed would.
UNINTERRUPTED_RANGE = (0.820, 0.865)


def _history(out):
    try:
        with open(out / "history.csv") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def _kill_during_epoch(command, out, epoch, timeout):
    """Starts `command` and kills it (SIGKILL) a third of the way into `epoch`, judged by history.csv.

    Returns the history logged before the kill.
    """
    started = time.monotonic()
    with open(out.parent / "killed.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            seen = {}  # epoch -> when its row appeared
            while len(seen) < epoch:
                assert process.poll() is None, (out.parent / "killed.log").read_text()[-3000:]
                assert time.monotonic() - started < timeout, "the run did not reach the epoch in time"
                for row in _history(out):
                    seen.setdefault(int(row["epoch"]), time.monotonic())
                time.sleep(0.05)
            # Epoch `epoch` takes about as long as the one before it.
            time.sleep((seen[epoch - 1] - seen[epoch - 2]) / 3)
            logged = _history(out)
        finally:
            process.kill()
            process.wait(timeout=60)
    return logged


def _live_per_layer(row):
    return [float(value) for name, value in sorted(row.items()) if name.startswith("pabt_live/")]


def test_train_command_killed_during_pruning_resumes_and_finishes(tmp_path):
    out = tmp_path / "run"
    command = [TFBIN, *QUICK_PABT, "--out", str(out)]
    logged = _kill_during_epoch(command, out, epoch=2, timeout=400)
    assert [row["epoch"] for row in logged] == ["0", "1"], "killed too late: epoch 2 was over"
    # Killed halfway through pruning: the backup holds epoch 1, the masks pruned as far as its end,
    # and the optimizer's steps and slots.
    backup = tf.train.load_checkpoint(str(out / "backup" / "chief"))
    names = backup.get_variable_to_shape_map()
    assert backup.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE") == 1
    masks = [backup.get_tensor(name) for name in names if name.endswith("/mask/.ATTRIBUTES/VARIABLE_VALUE")]
    live = sorted(float((mask >= 1).sum()) for mask in masks)
    assert live == sorted(_live_per_layer(logged[1])) and 1 < live[0] < 9
    steps = int(tfbin.data.load_dataset("digits", batch_size=128).train.cardinality())
    assert backup.get_tensor("model/optimizer/optimizer_0/iter/.ATTRIBUTES/VARIABLE_VALUE") == 2 * steps
    assert any("OPTIMIZER_SLOT" in name for name in names)
    tf.keras.models.load_model(out / "checkpoints" / "model.keras")  # whole, not cut short

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "model.tflite" in resumed.stdout
    # Its output is a pipe: one line for each epoch it trained, and no progress bars.
    assert_one_line_per_epoch(resumed.stdout, [f"epoch {epoch}/7" for epoch in range(3, 8)])
    history = _history(out)
    assert [row["epoch"] for row in history] == [str(epoch) for epoch in range(7)]
    assert history[:2] == logged  # the finished epochs are kept, not logged twice
    # The resumed run pruned on the schedule, from where the backup was, down to 1/1 by epoch 3.
    schedule = callbacks.PruneToBinary.for_epochs(7).schedule
    for epoch, row in enumerate(history):
        expected = schedule.live_count(9, min(epoch + (steps - 1) / steps, schedule.end_epoch))
        assert _live_per_layer(row) == [expected] * 18, epoch
    lowest, highest = UNINTERRUPTED_RANGE
    assert lowest - 0.03 <= float(history[-1]["val_accuracy"]) <= highest + 0.03

    assert not (out / "backup").exists()
    assert (out / "model.tflite").read_bytes()[4:8] == b"TFL3"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out / "logs" / "train"))
    run = json.loads((out / "run.json").read_text())
    assert run["recipe"]["name"] == "pabt-resnet20-cifar10" and run["settings"]["epochs"] == 7
    model = tf.keras.models.load_model(out / "model.keras")
    assert all(len(layer.live_pairs()) == 1 for layer in model.layers if isinstance(layer, tfbin.layers.MultiBaseConv2D))
    assert not [name for _, _, files in os.walk(out) for name in files if name.startswith(".tfbin-")]


def test_train_command_lists_recipes_without_training(capsys):
    assert cli.main(["train", "--list"]) == 0
    listing = capsys.readouterr().out
    for name, recipe in recipes.RECIPES.items():
        assert name in listing and recipe.reported in listing
    # The papers by name and venue.
    for paper in ("Pruning as a Binarization Technique (PaBT), CVPRW 2024", "STQ-Nets, BMVC 2020",
                  "Sub-bit Neural Networks (SNN), ICCV 2021",
                  "Training Fully Binary Neural Networks the Easy Way (BNEW), BMVC 2022"):
        assert f"from: {paper}: " in listing
    assert "seed" not in listing


def _optimizers(model):
    return [model.optimizer, *getattr(model.optimizer, "optimizers", [])]  # Bop's CaseOptimizer holds two


def _steps(model):
    """Training steps so far, as the optimizers count them (the schedules follow that count)."""
    return max(int(optimizer.iterations.numpy()) for optimizer in _optimizers(model))


def _training_state(model):
    """Every variable of the model (masks, importance scores and BatchNorm statistics included) and the
    step of each of its optimizers. (Their slots are restored when they are created, at the first step.)"""
    return [v.numpy() for v in model.variables] + [o.iterations.numpy() for o in _optimizers(model)]


class _AtEpoch(tf.keras.callbacks.Callback):
    """Calls `action(model)` at the begin or the end of epoch `epoch` and keeps what it returns."""

    def __init__(self, when, epoch, action):
        super().__init__()
        self.when, self.epoch, self.action = when, epoch, action
        self.result = None

    def on_epoch_begin(self, epoch, logs=None):
        if (self.when, self.epoch) == ("begin", epoch):
            self.result = self.action(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if (self.when, self.epoch) == ("end", epoch):
            self.result = self.action(self.model)


def _fail_keras_saves(monkeypatch):
    """While the returned list holds True, writing a .keras file stops halfway, as a kill would stop it."""
    armed = [False]
    original = zipfile.ZipFile.open

    def open_(self, name, mode="r", **kwargs):
        if mode == "w" and getattr(name, "filename", name).endswith(".weights.h5") and armed[0]:
            raise OSError(errno.ENOSPC, "simulated kill while saving")
        return original(self, name, mode, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_)
    return armed


def _arm(armed):
    def action(model):
        armed[0] = True

    return action


def test_a_killed_run_resumes_from_its_last_finished_epoch_and_loses_no_file(tmp_path, monkeypatch):
    recipe = tiny_recipe()
    armed = _fail_keras_saves(monkeypatch)
    # Killed while saving the checkpoint of epoch 1: the backup still holds epoch 0.
    finished = _AtEpoch("end", 0, _training_state)
    steps = _AtEpoch("end", 0, _steps)
    with pytest.raises(OSError, match="simulated kill"):
        recipes.train(recipe, tmp_path, dataset="digits", verbose=0,
                      callbacks=[finished, steps, _AtEpoch("begin", 1, _arm(armed))])
    armed[0] = False
    # The last checkpoint is whole (ModelCheckpoint would have left half a file) and nothing half-written is left.
    tf.keras.models.load_model(tmp_path / "checkpoints" / "model.keras")
    assert not [name for name in os.listdir(tmp_path / "checkpoints") if name.startswith(".tfbin-")]
    # What a kill could also have left in the log: the row of an epoch the backup did not count yet, half a row.
    with open(tmp_path / "history.csv") as f:
        logged = f.read()
    assert [row["epoch"] for row in csv.DictReader(io.StringIO(logged))] == ["0"]
    rows = logged.splitlines()
    (tmp_path / "history.csv").write_text("\n".join([*rows, "1" + rows[1][1:], "2,0.5"]))

    # Resumed, and this time killed while writing the final model.keras.
    resumed_state, resumed_steps = _AtEpoch("begin", 1, _training_state), _AtEpoch("end", 2, _steps)
    with pytest.raises(OSError, match="simulated kill"):
        recipes.train(recipe, tmp_path, dataset="digits", verbose=0,
                      callbacks=[resumed_state, resumed_steps, _AtEpoch("end", 2, _arm(armed))])
    armed[0] = False
    # It started where the backup was: the masks, the optimizer (its step and slots) and the statistics as they were.
    assert len(resumed_state.result) == len(finished.result)
    for restored, saved in zip(resumed_state.result, finished.result):
        np.testing.assert_array_equal(restored, saved)
    with open(tmp_path / "history.csv") as f:
        logs = list(csv.DictReader(f))
    assert [row["epoch"] for row in logs] == ["0", "1", "2"] and all(all(row.values()) for row in logs)

    # The backup outlives a kill before the end files are written: no epoch runs again.
    last = recipes.train(recipe, tmp_path, dataset="digits", verbose=0)
    assert last.history == {} and not os.path.exists(tmp_path / "backup")
    with open(tmp_path / "history.csv") as f:
        assert list(csv.DictReader(f)) == logs
    # Three epochs of optimizer steps in all, and so the schedules where they would be.
    assert steps.result > 0 and resumed_steps.result == 3 * steps.result
    model = tf.keras.models.load_model(tmp_path / "model.keras")
    # The resumed run continued the pruning where it was: a 2/2 net pruned to 1/1 by epoch 1.5.
    assert all(len(layer.live_pairs()) == 1 for layer in model.layers
               if isinstance(layer, tfbin.layers.MultiBaseConv2D))
    assert np.isfinite(float(logs[-1]["val_accuracy"]))


def test_pabt_deeplab_recipe_trains_on_mock_cityscapes_and_reports_mean_iou(tmp_path):
    catalog = recipes.RECIPES["pabt-deeplab-cityscapes"]
    assert (catalog.model, catalog.dataset, catalog.image_size) == ("deeplab", "cityscapes", (512, 1024))
    # The same recipe at a size that trains in seconds: 32x64 images, a narrow network.
    recipe = dataclasses.replace(
        catalog, image_size=(32, 64), batch_size=2, epochs=1,
        model_kwargs={**catalog.model_kwargs, "weight_bases": 2, "activation_bases": 2,
                      **catalog.quick_model_kwargs, "width": 4},
    )
    with tfds.testing.mock_data(num_examples=4):
        run = recipes.train(recipe, tmp_path, verbose=0)
    assert run.model.output_shape == (None, 32, 64, 19)
    for key in ("mean_iou", "val_mean_iou"):
        assert len(run.history[key]) == 1 and 0.0 <= run.history[key][0] <= 1.0
    # Pruned to 1/1 by the end, and saved as trained.
    mbns = [layer for layer in run.model.layers if isinstance(layer, tfbin.layers.MultiBaseConv2D)]
    assert len(mbns) == 24 and all(len(layer.live_pairs()) == 1 for layer in mbns)
    saved = tf.keras.models.load_model(run.model_path)
    np.testing.assert_allclose(saved.predict(run.calibration[:2], verbose=0),
                               run.model.predict(run.calibration[:2], verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["stq-a-resnet18-imagenet", "snn-resnet18-imagenet", "bnew-resnet20-cifar100"])
def test_every_method_recipe_trains_on_digits_and_converts(name, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--recipe", name, "--dataset", "digits", "--epochs", "2", "--out", str(out),
                     "--quiet"]) == 0
    assert (out / "model.tflite").read_bytes()[4:8] == b"TFL3"
    with open(out / "history.csv") as f:
        logs = list(csv.DictReader(f))
    assert [row["epoch"] for row in logs] == ["0", "1"]
    model = tf.keras.models.load_model(out / "model.keras")
    if name.startswith("stq"):
        # Pruned once, at epoch 1, to the recipe's PFR (within one filter of each layer).
        assert float(logs[0]["stq_pfr"]) == 0.0 and abs(float(logs[1]["stq_pfr"]) - 0.19) < 0.05
    elif name.startswith("snn"):
        assert [float(row["ede_t"]) for row in logs] == pytest.approx([0.1, 1.0])
        assert sum(isinstance(layer, tfbin.layers.SubBitConv2D) for layer in model.layers) == 16
    else:
        # BNEW froze the relaxed weights at +-1 in the last epoch: LCE packs them as binary.
        kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]
        assert len(kernels) == 18 and all(set(np.unique(k)) <= {-1.0, 1.0} for k in kernels)
    assert "model.tflite" in capsys.readouterr().out


def _schedule(class_name, **config):
    return {"module": "keras.optimizers.schedules", "class_name": class_name, "config": {**config, "name": None},
            "registered_name": None}


def _cosine(learning_rate, steps):
    return _schedule("CosineDecay", initial_learning_rate=learning_rate, decay_steps=steps, alpha=0.0,
                     warmup_target=None, warmup_steps=0)


def _linear(learning_rate, steps, final):
    return _schedule("PolynomialDecay", initial_learning_rate=learning_rate, decay_steps=steps,
                     end_learning_rate=final, power=1.0, cycle=False)


def _step(learning_rate, steps):
    return _schedule("ExponentialDecay", initial_learning_rate=learning_rate, decay_steps=steps, decay_rate=0.1,
                     staircase=True)


_ADAM = {"decay": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07}


def _bop(threshold, gamma, learning_rate, amsgrad):
    return {"module": "larq.optimizers", "class_name": "CaseOptimizer", "registered_name": "CaseOptimizer",
            "config": {"name": "optimizer_case", "var_opt_mapping": None,
                       "optimizer_configs": [{"class_name": "Bop",
                                              "config": {"name": "Bop", "threshold": threshold, "gamma": gamma}}],
                       "default_config": {"class_name": "Adam", "config": {"name": "Adam", **_ADAM, "amsgrad": amsgrad,
                                                                            "learning_rate": learning_rate}}}}


def _pabt_pruning(metric):
    return ("PruneToBinary", {
        "schedule": {"module": "tfbin.pruning", "class_name": "PolynomialSchedule",
                     "config": {"start_epoch": 1, "end_epoch": 4, "power": 3.0},
                     "registered_name": "tfbin>PolynomialSchedule"},
        "frequency": "step", "update_every": 1,
        "importance": {"module": "tfbin.pabt", "class_name": "TaylorImportance", "config": {"window": None},
                       "registered_name": "tfbin>TaylorImportance"},
        "selection": {"module": "tfbin.pabt", "class_name": "Selection", "config": {"order": "any", "budget": "layer"},
                      "registered_name": "tfbin>Selection"},
        "fading": None, "seed": 0, "verbose": 0, "statistics_batches": 8, "statistics_batch_size": 256,
        "smoothness_metric": metric,
    })


_PABT_CIFAR10 = (_bop(1e-7, _step(1e-3, 20), _step(1e-3, 20), amsgrad=False), [_pabt_pruning("val_accuracy")], 0)
# What each recipe trains with in a 10-epoch quick run: the optimizer (serialized, schedules included), the
# callbacks that make its method (class and config), and the STQ masks its model gets.
RECIPE_TRAINING = {
    "pabt-resnet20-cifar10": _PABT_CIFAR10,
    "pabt-resnet56-cifar10": _PABT_CIFAR10,
    "pabt-resnet18-imagenet": (_bop(1e-8, _linear(1e-4, 50, 1e-8), _linear(2.5e-3, 50, 5e-8), amsgrad=True),
                               [_pabt_pruning("val_accuracy")], 0),
    "pabt-deeplab-cityscapes": (_bop(1e-8, _linear(1e-4, 1250, 1e-8), _linear(2.5e-3, 1250, 5e-8), amsgrad=True),
                                [_pabt_pruning("val_mean_iou")], 0),
    "stq-a-resnet18-imagenet": (
        {"module": "keras.optimizers.legacy", "class_name": "Adam", "registered_name": None,
         "config": {"name": "Adam", "learning_rate": _cosine(1e-3, 100), **_ADAM, "amsgrad": False}},
        [("PruneFilters", {"target_pfr": 0.19, "epoch": 5, "layers": None, "channel_multiple": 1,
                           "max_layer_fraction": 0.9, "verbose": 0})],
        16,
    ),
    "snn-resnet18-imagenet": (
        {"module": "keras.optimizers.legacy", "class_name": "SGD", "registered_name": None,
         "config": {"name": "SGD", "learning_rate": _cosine(0.1, 50), "decay": 0.0, "momentum": 0.9,
                    "nesterov": False}},
        [("ErrorDecay", {"t_min": 0.1, "t_max": 10.0, "epochs": None, "verbose": 0}),
         ("RefineCodebooks", {"update_every": 25, "rule": "centroid", "seed": 0, "verbose": 0})],
        0,
    ),
    "bnew-resnet20-cifar100": (
        {"module": "tfbin.optimizers", "class_name": "BNEW", "registered_name": "tfbin>BNEW",
         "config": {"name": "BNEW", "learning_rate": _linear(1e-2, 100, 1e-4), **_ADAM, "amsgrad": False,
                    "steps_per_epoch": 10, "epochs": 10, "binarize_epoch": 2, "freeze_epoch": 9, "lambda0": 0.5,
                    "regularizer": "bnew", "order": "after"}},
        [],
        0,
    ),
}


@pytest.mark.parametrize("name", sorted(RECIPE_TRAINING))
def test_every_recipe_trains_with_its_methods_optimizer_callbacks_and_masks(name, tmp_path, monkeypatch):
    fitted = {}

    def fit(model, *args, callbacks=(), **kwargs):  # what train hands Keras, without training
        fitted.update(model=model, callbacks=callbacks)
        return tf.keras.callbacks.History()

    monkeypatch.setattr(tf.keras.Model, "fit", fit)
    recipe = recipes.RECIPES[name]
    recipes.train(recipe, tmp_path, epochs=10, verbose=0,
                  dataset="digits" if recipe.task == "classification" else "digit_scenes")
    model = fitted["model"]
    method_callbacks = [(type(c).__name__, c.get_config()) for c in fitted["callbacks"]
                        if isinstance(c, (callbacks.PruneToBinary, callbacks.PruneFilters, callbacks.ErrorDecay,
                                          callbacks.RefineCodebooks))]
    masked = [layer for layer in model.layers if isinstance(layer, tfbin.stq.MaskedQuantConv2D)]
    optimizer, expected_callbacks, expected_masked = RECIPE_TRAINING[name]
    assert tf.keras.optimizers.serialize(model.optimizer) == optimizer
    assert method_callbacks == expected_callbacks
    assert len(masked) == expected_masked
    # STQ-A's L1 on the BatchNorm scales: one penalty per masked convolution's BatchNorm.
    assert len(model.losses) == expected_masked
    pabt = [c for c in fitted["callbacks"] if isinstance(c, callbacks.PruneToBinary)]
    assert all(c.statistics_data is not None for c in pabt)  # one replica: BatchNorm re-estimated
