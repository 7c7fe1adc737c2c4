import csv
import dataclasses
import json
import os

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import tfbin
from tfbin import cli, optimizers, recipes, zoo
from tfbin.recipes.catalog import Recipe


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


def test_train_command_runs_a_recipe_end_to_end_on_digits(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--recipe", "pabt-resnet20-cifar10", "--dataset", "digits", "--epochs", "2",
                     "--out", str(out), "--quiet"]) == 0
    assert "model.tflite" in capsys.readouterr().out
    assert (out / "checkpoints" / "model.keras").exists() and (out / "model.keras").exists()
    assert (out / "model.tflite").read_bytes()[4:8] == b"TFL3"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(out / "logs" / "train"))
    with open(out / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    run = json.loads((out / "run.json").read_text())
    assert run["recipe"]["name"] == "pabt-resnet20-cifar10" and run["settings"]["epochs"] == 2
    model = tf.keras.models.load_model(out / "model.keras")
    # PaBT finished: every multi-base layer is down to one binary convolution.
    assert all(len(layer.live_pairs()) == 1 for layer in model.layers if isinstance(layer, tfbin.layers.MultiBaseConv2D))


def test_train_command_lists_recipes_without_training(capsys):
    assert cli.main(["train", "--list"]) == 0
    listing = capsys.readouterr().out
    for name, recipe in recipes.RECIPES.items():
        assert name in listing and recipe.reported in listing


class _Crash(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("simulated crash")


def test_a_crashed_run_resumes_from_its_last_finished_epoch(tmp_path):
    recipe = tiny_recipe()
    with pytest.raises(RuntimeError, match="simulated crash"):
        recipes.train(recipe, tmp_path, dataset="digits", verbose=0, callbacks=[_Crash()])
    assert os.listdir(tmp_path / "backup")
    resumed = recipes.train(recipe, tmp_path, dataset="digits", verbose=0)
    assert len(resumed.history["loss"]) == 1  # only epoch 3 was left
    with open(tmp_path / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1", "2"]
    # The resumed run continued the pruning where it was: a 2/2 net pruned to 1/1 by epoch 1.5.
    assert all(len(layer.live_pairs()) == 1 for layer in resumed.model.layers
               if isinstance(layer, tfbin.layers.MultiBaseConv2D))
    assert np.isfinite(resumed.history["val_accuracy"][0])


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
