"""Knowledge distillation (tfbin.distillation): the loss, the Distiller's training step, errors, saving."""
import numpy as np
import pytest
import tensorflow as tf

import tfbin
from tfbin import data, zoo
from tfbin.distillation import Distiller, distillation_loss

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def digits():
    arrays = data.digits_arrays()
    return arrays.x_train[:256].reshape(256, -1), arrays.y_train[:256]


def dense(outputs=10, seed=0, name=None):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([tf.keras.Input((64,)), tf.keras.layers.Dense(16, activation="relu"),
                                tf.keras.layers.Dense(outputs)], name=name)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_distillation_loss_is_the_scaled_kl_divergence(temperature):
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(0, 3, (5, 10)), rng.normal(0, 3, (5, 10))
    p, q = _softmax(teacher / temperature), _softmax(student / temperature)
    expected = temperature**2 * np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))
    got = distillation_loss(tf.constant(teacher, tf.float32), tf.constant(student, tf.float32), temperature)
    assert float(got) == pytest.approx(expected, rel=1e-4)
    assert float(distillation_loss(tf.constant(teacher, tf.float32), tf.constant(teacher, tf.float32))) == \
        pytest.approx(0.0, abs=1e-6)


def test_teacher_with_another_output_shape_is_refused():
    with pytest.raises(ValueError, match=r"teacher's output shape \(5,\) differs from the student's \(10,\)"):
        Distiller(dense(10), dense(5))

    class Subclassed(tf.keras.Model):  # no output shape until called: caught when the step is traced
        def __init__(self):
            super().__init__()
            self.head = tf.keras.layers.Dense(5)

        def call(self, x):
            return self.head(x)

    distiller = Distiller(dense(10), Subclassed())
    distiller.compile("adam")
    with pytest.raises(ValueError, match="differs from the student's"):
        distiller.fit(np.zeros((4, 64), np.float32), np.zeros(4), epochs=1, verbose=0)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        Distiller(dense(), dense(), temperature=0)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        Distiller(dense(), dense(), alpha=1.5)
    with pytest.raises(ValueError, match="pass it as compile"):
        Distiller(dense(), dense(), alpha=0.5).compile("adam")


def test_distiller_trains_the_student_toward_the_teacher_and_leaves_the_teacher_alone(digits):
    x, y = digits
    teacher = dense(seed=1, name="teacher")
    teacher.compile(tf.keras.optimizers.legacy.Adam(1e-2), LOSS)
    teacher.fit(x, y, epochs=5, verbose=0)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    student = dense(seed=2, name="student")
    distiller = Distiller(student, teacher, temperature=2.0, alpha=0.25)
    distiller.compile(tf.keras.optimizers.legacy.Adam(1e-2), LOSS, metrics=["accuracy"])
    history = distiller.fit(x, y, epochs=8, verbose=0, validation_data=(x, y)).history
    assert set(history) == {"loss", "distillation_loss", "student_loss", "accuracy", "val_loss",
                            "val_distillation_loss", "val_student_loss", "val_accuracy"}
    assert history["distillation_loss"][-1] < 0.5 * history["distillation_loss"][0]
    for before, after in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    # loss = alpha * label loss + (1 - alpha) * distillation loss (no regularizers here)
    evaluation = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert evaluation["loss"] == pytest.approx(
        0.25 * evaluation["student_loss"] + 0.75 * evaluation["distillation_loss"], rel=1e-4)
    np.testing.assert_array_equal(distiller.predict(x[:8], verbose=0), student.predict(x[:8], verbose=0))


def test_distiller_config_and_saving_round_trip(digits, tmp_path):
    x, _ = digits
    distiller = Distiller(dense(seed=3, name="student"), dense(seed=4, name="teacher"), temperature=3.0, alpha=0.1)
    restored = Distiller.from_config(distiller.get_config())
    assert (restored.temperature, restored.alpha) == (3.0, 0.1)
    assert restored.get_config() == distiller.get_config()
    distiller.compile(tf.keras.optimizers.legacy.Adam(), LOSS)
    distiller.fit(x, np.zeros(len(x)), epochs=1, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    loaded = tf.keras.models.load_model(tmp_path / "distiller.keras")
    assert isinstance(loaded, Distiller)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), distiller.predict(x[:8], verbose=0), rtol=1e-6)
    np.testing.assert_allclose(loaded.teacher.predict(x[:8], verbose=0), distiller.teacher.predict(x[:8], verbose=0),
                               rtol=1e-6)


def test_a_binary_student_learns_from_a_binary_teacher(digits):
    # The teacher may be binary too; the student is a zoo BNN on the 8x8 images.
    x, y = digits
    x = x.reshape(-1, 8, 8, 1)
    teacher = zoo.residual_net((8, 8, 1), 10, [(8, 1, 1)], conv="bnn")
    teacher.compile(tf.keras.optimizers.legacy.Adam(1e-2), LOSS)
    teacher.fit(x, y, epochs=3, verbose=0)
    distiller = Distiller(zoo.residual_net((8, 8, 1), 10, [(8, 1, 1)], conv="relaxed"), teacher)
    distiller.compile(tf.keras.optimizers.legacy.Adam(1e-2), metrics=["accuracy"])
    history = distiller.fit(x, y, epochs=3, verbose=0).history
    assert "student_loss" not in history  # no label loss given: alpha = 0, pure distillation
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
