import csv
import json
import os
import subprocess
import sys

import larq as lq
import numpy as np
import pytest

import tfbin
from tfbin import cli, data, tuning, zoo

import keras_tuner  # noqa: E402  (after tfbin.tuning, as a user would)
import tensorflow as tf  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", batch_size=64)


def tiny_model(hp):
    """A one-layer binary classifier of 8x8 digits: trains in a fraction of a second."""
    return tf.keras.Sequential([
        tf.keras.Input((8, 8, 1)),
        tf.keras.layers.Flatten(),
        lq.layers.QuantDense(10, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"),
    ])


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- keras_tuner on tf.keras --------------------------------------------------------------


def test_keras_tuner_accepts_tf_keras_models_and_keras_3_stays_keras_3(tmp_path, digits):
    import keras

    assert tuning.keras_tuner is keras_tuner
    # Everyone else still gets Keras 3 from `import keras`.
    assert sys.modules["keras"] is keras and keras.__version__.startswith("3.")
    # keras_tuner used directly, on a tf.keras model: the search runs and gives tf.keras models back.
    tuner = keras_tuner.RandomSearch(lambda hp: _compiled(tiny_model(hp)), "val_accuracy", max_trials=1, seed=0,
                                     directory=tmp_path)
    tuner.search(digits.train.take(2), validation_data=digits.test.take(1), epochs=1, verbose=0)
    assert isinstance(tuner.get_best_models()[0], tf.keras.Model)


def _compiled(model):
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_keras_tuner_imported_first_gets_a_clear_error():
    code = "import keras_tuner\nimport tfbin.tuning\n"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0
    assert "ImportError: tfbin.tuning must be imported before keras_tuner" in result.stderr


# --- search spaces ------------------------------------------------------------------------


def test_pabt_presets_follow_seed_000():
    cifar = tuning.PRESETS["pabt-cifar10"]
    assert (cifar.learning_rate, cifar.gamma, cifar.threshold) == ((1e-2, 1e-3), (1e-3, 1e-4), (1e-6, 1e-7, 1e-8))
    assert cifar.optimizer == ("adam",) and cifar.schedule == "step"
    assert (cifar.decay_period, cifar.decay_rate) == (0.2, 0.1)  # x0.1 every 100 of 500 epochs
    assert cifar.size == 12
    imagenet = tuning.PRESETS["pabt-imagenet"]
    assert imagenet.threshold == (1e-7, 1e-8) and imagenet.gamma == (1e-4,)
    assert imagenet.final_gamma == (1e-6, 1e-8)
    assert imagenet.learning_rate == (1e-3, 2.5e-3) and imagenet.final_learning_rate == (5e-6, 5e-8)
    assert set(imagenet.optimizer) == {"adam", "amsgrad"} and imagenet.schedule == "linear"
    assert imagenet.size == 32
    assert tuning.PRESETS["quick"].size <= 8
    assert all(space.description for space in tuning.PRESETS.values())


def test_step_schedule_is_scaled_to_the_run():
    space = tuning.PRESETS["pabt-cifar10"]
    values = {"learning_rate": 1e-3, "gamma": 1e-3, "threshold": 1e-7, "optimizer": "adam"}
    kwargs = space.optimizer_kwargs(values, epochs=500, steps_per_epoch=10)
    assert kwargs["decay_every"] == 100 and kwargs["decay_rate"] == 0.1
    assert space.optimizer_kwargs(values, epochs=10, steps_per_epoch=10)["decay_every"] == 2
    assert space.optimizer_kwargs(values, epochs=1, steps_per_epoch=10)["decay_every"] == 1
    eta = tfbin.optimizers.bop_optimizer(**kwargs).default.learning_rate
    assert np.isclose(float(eta(99 * 10)), 1e-3) and np.isclose(float(eta(100 * 10)), 1e-4)


def test_linear_schedule_decays_to_the_final_values():
    space = tuning.PRESETS["pabt-imagenet"]
    values = {"learning_rate": 2.5e-3, "gamma": 1e-4, "threshold": 1e-8, "optimizer": "amsgrad",
              "final_learning_rate": 5e-8, "final_gamma": 1e-8}
    optimizer = tfbin.optimizers.bop_optimizer(**space.optimizer_kwargs(values, epochs=4, steps_per_epoch=5))
    eta = optimizer.default.learning_rate
    assert optimizer.default.amsgrad
    assert np.isclose(float(eta(0)), 2.5e-3) and np.isclose(float(eta(20)), 5e-8)


def test_space_declares_choices_and_fixed_values():
    hp = keras_tuner.HyperParameters()
    values = tuning.PRESETS["pabt-imagenet"].declare(hp)
    assert values == {"learning_rate": 1e-3, "gamma": 1e-4, "threshold": 1e-7, "optimizer": "adam",
                      "final_learning_rate": 5e-6, "final_gamma": 1e-6}
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds["gamma"] == "Fixed" and kinds["threshold"] == "Choice"


def test_users_define_their_own_space():
    space = tuning.SearchSpace(learning_rate=[1e-3, 1e-2], gamma=1e-3, threshold=[1e-6, 1e-8],
                               optimizer=["adam", "amsgrad"])
    assert space.size == 8 and space.gamma == (1e-3,)
    assert tuning.get_space(space) is space
    assert tuning.get_space("pabt-cifar10") is tuning.PRESETS["pabt-cifar10"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": []}, "learning_rate needs at least one value"),
        ({"threshold": ()}, "threshold needs at least one value"),
        ({"gamma": [1e-3, -1e-4]}, "gamma values must be a positive number"),
        ({"learning_rate": [0.0]}, "learning_rate values must be a positive number"),
        ({"threshold": [float("nan")]}, "threshold values must be a positive number"),
        ({"gamma": [True]}, "gamma values must be a positive number"),
        ({"gamma": [1e-3, 2.0]}, "gamma values must be a positive number <= 1"),
        ({"optimizer": ["sgd"]}, "optimizer values must be one of adam, amsgrad"),
        ({"schedule": "cosine"}, "schedule must be one of constant, step, linear"),
        ({"learning_rate": [1e-3, 1e-3]}, "lists a value twice"),
        ({"schedule": "constant", "final_gamma": [1e-6]}, "final_gamma only applies to schedule='linear'"),
        ({"schedule": "linear", "final_learning_rate": [], "final_gamma": [1e-6]}, "final_learning_rate needs"),
        ({"final_learning_rate": [1e-4]}, "final_gamma needs at least one value when final_learning_rate has some"),
        ({"learning_rate": [1e-3], "final_learning_rate": [1e-2], "final_gamma": [1e-6]},
         "at most every learning_rate"),
        ({"final_fraction": 2}, r"final_fraction must be a number in \[0, 1\]"),
        ({"decay_period": 0}, "decay_period must be"),
        ({"decay_rate": 2}, "decay_rate must be"),
    ],
)
def test_bad_spaces_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tuning.SearchSpace(**kwargs)


def test_unknown_preset_names_the_presets():
    with pytest.raises(ValueError, match="unknown preset 'nope'; presets are pabt-cifar10, pabt-imagenet, quick"):
        tuning.get_space("nope")


def test_schedules_need_the_length_of_the_run(tmp_path, digits):
    with pytest.raises(ValueError, match="steps_per_epoch must be an int >= 1"):
        tuning.BopHyperModel(tiny_model, "pabt-cifar10", steps_per_epoch=0)
    # The hypermodel takes the run's length from the data fit gets; this data does not tell it.
    unknown_length = digits.train.filter(lambda x, y: True)
    hypermodel = tuning.BopHyperModel(tiny_model, "pabt-cifar10")
    hp = keras_tuner.HyperParameters()
    with pytest.raises(ValueError, match="does not tell how many steps an epoch has .*pass steps_per_epoch"):
        hypermodel.fit(hp, hypermodel.build(hp), unknown_length, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch is needed: the 'linear' schedule spans each trial's run"):
        tuning.tune(tiny_model, unknown_length, digits.test, tmp_path, "quick", max_trials=1, epochs=1, verbose=0)


def test_make_tuner_refuses_bad_arguments(tmp_path):
    hypermodel = tuning.BopHyperModel(tiny_model)
    with pytest.raises(ValueError, match="tuner must be one of grid, random, bayesian, hyperband"):
        tuning.make_tuner(hypermodel, "annealing", directory=tmp_path)
    with pytest.raises(ValueError, match="max_trials must be an int >= 1"):
        tuning.make_tuner(hypermodel, max_trials=0, directory=tmp_path)


def test_a_keras_3_model_is_refused_clearly():
    import keras

    def keras3_model(hp):
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])

    with pytest.raises(TypeError, match="must return a tf.keras"):
        tuning.BopHyperModel(keras3_model).build(keras_tuner.HyperParameters())


def rates_callback(rates):
    """A callback that appends (eta, phi) to `rates` before every step and once at the end of training."""

    def value(rate, step):
        return float(rate(step)) if callable(rate) else float(rate)

    class Rates(tf.keras.callbacks.Callback):
        # `rates` is reached through the closure, so it survives keras_tuner's copies of the callbacks.
        def record(self):
            adam, bop = self.model.optimizer.default, self.model.optimizer.optimizers[0]
            rates.append((value(adam.learning_rate, adam.iterations), value(bop.gamma, bop.iterations)))

        def on_train_batch_begin(self, batch, logs=None):
            self.record()

        def on_train_end(self, logs=None):
            self.record()

    return Rates()


@pytest.mark.parametrize("space", [None, tuning.SearchSpace()], ids=["default hypermodel (quick)", "SearchSpace()"])
def test_default_spaces_decay_eta_and_phi_to_one_percent_over_the_run(tmp_path, digits, space):
    rates = []
    hypermodel = tuning.BopHyperModel(tiny_model) if space is None else tuning.BopHyperModel(tiny_model, space)
    assert hypermodel.space.schedule == "linear"
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=1, seed=0, directory=tmp_path)
    tuner.search(digits.train.take(3), validation_data=digits.test.take(1), epochs=2, verbose=0,
                 callbacks=[rates_callback(rates)])
    values = tuner.oracle.get_best_trials()[0].hyperparameters.values
    eta, phi = values["learning_rate"], values["gamma"]
    assert len(rates) == 2 * 3 + 1  # every step of 2 epochs of 3, and the end
    assert rates[0] == pytest.approx((eta, phi))
    assert rates[-1] == pytest.approx((eta / 100, phi / 100))  # down to 1% at the end of this run, not before
    assert all(later < earlier for (later, _), (earlier, _) in zip(rates[1:], rates))


def test_the_default_space_is_tfbin_s_bop_defaults_and_quick_starts_there():
    defaults = tfbin.optimizers.BOP_DEFAULTS
    space = tuning.SearchSpace()
    assert (space.learning_rate, space.gamma, space.threshold) == (
        (defaults["learning_rate"],), (defaults["gamma"],), (defaults["threshold"],))
    assert space.final_fraction == defaults["final_fraction"] and space.size == 1
    quick = tuning.PRESETS["quick"]
    first = {name: values[0] for name in ("learning_rate", "gamma", "threshold") for values in (getattr(quick, name),)}
    assert first == {name: defaults[name] for name in first}  # a grid search's first trial
    kwargs = quick.optimizer_kwargs({**first, "optimizer": "adam"}, epochs=3, steps_per_epoch=10)
    assert kwargs["final_learning_rate"] == pytest.approx(1e-4) and kwargs["final_gamma"] == pytest.approx(1e-5)


def test_fit_spans_the_epochs_it_adds_and_counts_array_steps(digits):
    rates = []
    hypermodel = tuning.BopHyperModel(tiny_model)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    x, y = (np.concatenate([batch[i] for batch in digits.train.take(2).as_numpy_iterator()]) for i in (0, 1))
    # 128 samples, the last fifth held out: 102 in batches of 34, 3 steps; epochs 1 to 3, as a Hyperband
    # continuation trains them: a run of 2 epochs.
    history = hypermodel.fit(hp, model, x, y, batch_size=34, validation_split=0.2, epochs=3, initial_epoch=1,
                             verbose=0, callbacks=[rates_callback(rates)])
    assert history.history["epochs"] == [3, 3]
    assert len(rates) == 2 * 3 + 1
    assert rates[-1] == pytest.approx((hp.get("learning_rate") / 100, hp.get("gamma") / 100))


def test_a_run_given_to_the_hypermodel_is_compiled_in_build_and_kept_by_fit(digits):
    # As tune() and Hyperband use it: a trial continued from a checkpoint keeps its optimizer and state.
    rates = []
    hypermodel = tuning.BopHyperModel(tiny_model, epochs=4, steps_per_epoch=3)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    optimizer = model.optimizer
    hypermodel.fit(hp, model, digits.train.take(3), epochs=2, verbose=0, callbacks=[rates_callback(rates)])
    assert model.optimizer is optimizer
    eta = hp.get("learning_rate")
    assert rates[0][0] == pytest.approx(eta) and rates[-1][0] == pytest.approx(eta - (eta - eta / 100) * 6 / 12)


def test_stored_settings_of_spaces_without_a_final_fraction_are_unchanged():
    from tfbin.tuning.search import _space_settings

    for name in ("pabt-cifar10", "pabt-imagenet"):
        assert "final_fraction" not in _space_settings(tuning.PRESETS[name])
    assert _space_settings(tuning.PRESETS["quick"])["final_fraction"] == 0.01


# --- results ------------------------------------------------------------------------------


def test_best_configuration_code_runs():
    space = tuning.PRESETS["pabt-cifar10"]
    values = {"learning_rate": 1e-3, "gamma": 1e-3, "threshold": 1e-7, "optimizer": "adam"}
    code = tuning.optimizer_code(space.optimizer_kwargs(values, epochs=5, steps_per_epoch=20), {"width": 16})
    assert "# other hyperparameters: width=16" in code
    namespace = {}
    exec(code, namespace)
    assert isinstance(namespace["optimizer"], lq.optimizers.CaseOptimizer)


def test_write_results(tmp_path):
    rows = [
        {"trial": 1, "learning_rate": 0.01, "optimizer": "adam", "best_val_accuracy": 0.5, "best_epoch": 1,
         "epochs": 2},
        {"trial": 2, "learning_rate": 0.001, "optimizer": "adam", "best_val_accuracy": 0.75, "best_epoch": 2,
         "epochs": 2},
    ]
    tuning.write_results(tmp_path, rows, notes=["preset: quick"], code="optimizer = 1\n")
    assert read_csv(tmp_path / "results.csv")[1] == {
        "trial": "2", "learning_rate": "0.001", "optimizer": "adam", "best_val_accuracy": "0.75",
        "best_epoch": "2", "epochs": "2",
    }
    report = (tmp_path / "results.md").read_text()
    assert "| trial | learning_rate | optimizer | best_val_accuracy | best_epoch | epochs |" in report
    assert "| **2** | **0.001** | **adam** | **0.7500** | **2** | **2** |" in report
    assert "preset: quick" in report and "```python\noptimizer = 1\n```" in report
    assert (tmp_path / "val_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


# --- real searches ------------------------------------------------------------------------


def test_grid_search_on_digits_resumes_without_rerunning_trials(tmp_path, digits):
    built = []

    def build_model(hp):
        built.append(dict(hp.values))
        return zoo.digits_resnet(width=8)

    def tune(max_trials, epochs=1):
        return tuning.tune(build_model, digits.train, digits.test, tmp_path, "quick", max_trials=max_trials,
                           epochs=epochs, verbose=0)

    first = tune(max_trials=2)
    assert [row["trial"] for row in first.rows] == [1, 2]
    for row in first.rows:
        assert 0.1 < row["best_val_accuracy"] <= 1  # 10 classes: chance is 0.1
        assert (row["best_epoch"], row["epochs"]) == (1, 1)
    assert first.rows[0]["best_val_accuracy"] != first.rows[1]["best_val_accuracy"]
    assert len(read_csv(tmp_path / "results.csv")) == 2

    built.clear()
    second = tune(max_trials=3)
    assert len(built) == 1  # the third grid point only; the first two were not trained again
    assert second.rows[:2] == first.rows
    seen = {tuple(sorted(row.items())) for row in first.rows}
    new = {k: v for k, v in second.rows[2].items() if k in tuning.DIMENSIONS}
    assert built[0] == new and tuple(sorted(second.rows[2].items())) not in seen
    assert len(read_csv(tmp_path / "results.csv")) == 3
    assert second.best in second.rows and "bop_optimizer(" in second.code

    with pytest.raises(ValueError, match="holds a search with other settings .*epochs: 1 there, 2 now"):
        tune(max_trials=4, epochs=2)


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_other_tuners_search_tf_keras_models(tmp_path, digits, kind):
    space = tuning.SearchSpace(learning_rate=[1e-2, 1e-3], gamma=[1e-2, 1e-3])
    hypermodel = tuning.BopHyperModel(tiny_model, space, epochs=2, seed=0)
    if kind == "random":  # keras_tuner used directly, as users would
        tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=2, seed=0, directory=tmp_path)
    else:
        tuner = tuning.make_tuner(hypermodel, kind, max_trials=2, directory=tmp_path)
    tuner.search(digits.train.take(4), validation_data=digits.test, epochs=2, verbose=0)
    rows = tuning.trial_rows(tuner)
    assert len(rows) == 2
    for row in rows:
        assert 0 < row["best_val_accuracy"] <= 1 and row["epochs"] <= 2
    assert isinstance(tuner.get_best_models()[0], tf.keras.Model)


# --- the command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "nope"], "argument --preset: invalid choice"),
        (["--gamma"], "gamma needs at least one value"),
        (["--threshold", "1e-7", "0"], "argument --threshold: must be a positive number"),
        (["--max-trials", "0"], "argument --max-trials: must be a positive integer"),
        (["--epochs", "-2"], "argument --epochs: must be a positive integer"),
        (["--weight-bases", "3"], "--weight-bases and --activation-bases need --conv mbn"),
        (["--dataset", "mnist"], "argument --dataset: invalid choice"),
    ],
)
def test_tune_command_refuses_bad_input_before_training(capsys, tmp_path, args, message):
    out = tmp_path / "out"
    try:
        code = cli.main(["tune", "--out", str(out), *args])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not os.listdir(out)


def test_tune_command_runs_and_resumes(tmp_path):
    out = tmp_path / "tune"
    args = ["tune", "--preset", "quick", "--dataset", "digits", "--max-trials", "2", "--epochs", "1",
            "--width", "4", "--out", str(out)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "tfbin.cli", *args], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Search: Running Trial #2" in result.stdout  # keras_tuner's progress display
    assert "optimizer = optimizers.bop_optimizer(" in result.stdout
    assert "schedule_kind='linear'" in result.stdout and "final_learning_rate=" in result.stdout
    rows = read_csv(out / "results.csv")
    assert [row["trial"] for row in rows] == ["1", "2"]
    assert set(rows[0]) == {"trial", "learning_rate", "gamma", "threshold", "optimizer", "best_val_accuracy",
                            "best_epoch", "epochs"}
    assert all(0 < float(row["best_val_accuracy"]) <= 1 and row["epochs"] == "1" for row in rows)
    assert (out / "val_accuracy.png").exists() and "| trial |" in (out / "results.md").read_text()
    assert json.loads((out / "settings.json").read_text())["width"] == 4

    # Same directory, more trials: the search goes on from where it was.
    args[args.index("--max-trials") + 1] = "3"
    assert cli.main([*args, "--quiet"]) == 0
    resumed = read_csv(out / "results.csv")
    assert resumed[:2] == rows and len(resumed) == 3
