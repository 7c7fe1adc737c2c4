import tfbin  # noqa: F401  (routes tf.keras to Keras 2 before TensorFlow loads)
import pytest
import tensorflow as tf

from tfbin import data, training, zoo
from tfbin.optimizers import BOP_DEFAULTS


def tiny_digits():
    arrays = data.digits_arrays()
    # Two training steps of 64 per epoch and one test batch.
    return data.Arrays(arrays.x_train[:128], arrays.y_train[:128], arrays.x_test[:64], arrays.y_test[:64],
                       num_classes=arrays.num_classes)


def as_dataset(arrays):
    batches = (tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
               for x, y in ((arrays.x_train, arrays.y_train), (arrays.x_test, arrays.y_test)))
    train, test = batches
    return data.Dataset(train=train, test=test, num_classes=arrays.num_classes,
                        input_shape=arrays.x_train.shape[1:], train_size=len(arrays.x_train),
                        test_size=len(arrays.x_test))


def schedules(optimizer):
    """(Adam's eta, Bop's gamma) of a Bop + Adam `CaseOptimizer`."""
    return optimizer.default._get_hyper("learning_rate"), optimizer.optimizers[0]._get_hyper("gamma")


def test_default_optimizer_decays_eta_and_gamma_to_the_final_fraction_over_the_run():
    model = zoo.digits_resnet(width=4)
    eta, gamma = schedules(training.default_optimizer(model, decay_epochs=3, steps_per_epoch=4))
    fraction = BOP_DEFAULTS["final_fraction"]
    assert float(eta(0)) == pytest.approx(BOP_DEFAULTS["learning_rate"])
    assert float(gamma(0)) == pytest.approx(BOP_DEFAULTS["gamma"])
    assert float(eta(12)) == pytest.approx(BOP_DEFAULTS["learning_rate"] * fraction)
    assert float(gamma(12)) == pytest.approx(BOP_DEFAULTS["gamma"] * fraction)


@pytest.mark.parametrize("feed", ["arrays", "dataset"])
def test_train_by_default_ends_its_run_with_eta_and_gamma_decayed(feed):
    # A constant eta and gamma keep Bop flipping up to the last step, so the run ends wherever
    # those flips left it; the defaults decay both to their final fraction at the last step.
    digits = tiny_digits()
    dataset = as_dataset(digits) if feed == "dataset" else digits
    tf.keras.utils.set_random_seed(0)
    model = zoo.digits_resnet(width=4)
    training.train(model, dataset, epochs=2, verbose=0)
    eta, gamma = schedules(model.optimizer)
    steps = int(model.optimizer.default.iterations)
    assert steps == 2 * training.steps_per_epoch(dataset)
    fraction = BOP_DEFAULTS["final_fraction"]
    assert float(eta(steps)) == pytest.approx(BOP_DEFAULTS["learning_rate"] * fraction)
    assert float(gamma(steps)) == pytest.approx(BOP_DEFAULTS["gamma"] * fraction)


def test_train_keeps_eta_and_gamma_constant_without_decay():
    tf.keras.utils.set_random_seed(0)
    model = zoo.digits_resnet(width=4)
    training.train(model, tiny_digits(), epochs=1, decay=False, verbose=0)
    eta, gamma = schedules(model.optimizer)
    assert float(eta) == pytest.approx(BOP_DEFAULTS["learning_rate"])
    assert float(gamma) == pytest.approx(BOP_DEFAULTS["gamma"])


def test_epoch_lines_print_one_line_per_epoch_whatever_the_callbacks_log(capsys):
    class Note(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["note"] = f"epoch {epoch} done"

    digits = data.digits_arrays()
    model = zoo.digits_resnet(width=4)
    training.train(model, digits, epochs=2, callbacks=[Note()], verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert [line.split(" - ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(" - loss: " in line and " - val_accuracy: " in line and line.endswith(" done") for line in lines)
