"""Knowledge distillation as a Keras model: a student learns the teacher's output distribution.

`Distiller(student, teacher)` is a `tf.keras.Model` with its own
`train_step`: each batch runs the teacher (inference mode, never trained)
and the student, and the student's loss is

    alpha * hard_loss(y, s) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

where s and t are the student's and the teacher's logits, hard_loss the
loss on the labels given to `compile` and T the temperature. ReActNet and BNEW train on
the distribution term alone (alpha = 0, T = 1), the default. The teacher may
be a float or a binary network of any architecture with the same output
shape as the student; both output logits. `fit`, `evaluate` and `predict`
work as for any model (validation and `predict` use the student), callbacks
included; after training, use `distiller.student` (convert it, save it).

```python
import tfbin
import tensorflow as tf
from tfbin import data, zoo
from tfbin.distillation import Distiller

digits = data.digits_arrays()
x, y = digits.x_train[:256], digits.y_train[:256]
loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
teacher = zoo.digits_resnet(width=8, conv="float", block="reactnet")
teacher.compile("adam", loss)
teacher.fit(x, y, epochs=1, verbose=0)
distiller = Distiller(zoo.digits_resnet(width=8), teacher)
distiller.compile(tf.keras.optimizers.legacy.Adam(1e-3), loss, metrics=["accuracy"])   # loss: on the labels
history = distiller.fit(x, y, epochs=1, verbose=0)
sorted(history.history)           # ['accuracy', 'distillation_loss', 'loss', 'student_loss']
student = distiller.student       # the trained model
```
"""
import tensorflow as tf

from tfbin.registry import register
from tfbin.validation import check_fraction, check_number

__all__ = ["Distiller", "distillation_loss"]


def distillation_loss(teacher_logits, student_logits, temperature=1.0):
    """T^2 * KL(softmax(t / T) || softmax(s / T)), averaged over the batch."""
    teacher = tf.nn.softmax(teacher_logits / temperature, axis=-1)
    student = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    teacher_log = tf.math.log(tf.maximum(teacher, 1e-12))
    kl = tf.reduce_sum(teacher * (teacher_log - student), axis=-1)
    return temperature**2 * tf.reduce_mean(kl)


def _check_shapes(student_shape, teacher_shape):
    if student_shape is None or teacher_shape is None:
        return
    student_shape, teacher_shape = tf.TensorShape(student_shape)[1:], tf.TensorShape(teacher_shape)[1:]
    if not student_shape.is_compatible_with(teacher_shape):
        raise ValueError(
            f"Distiller: the teacher's output shape {teacher_shape} differs from the student's {student_shape}; "
            "distillation compares their logits class by class, so both must output the same shape"
        )


def _output_shape(model):
    try:
        return model.output_shape
    except (AttributeError, RuntimeError):  # a subclassed model that has not been called
        return None


@register
class Distiller(tf.keras.Model):
    """Trains `student` on `teacher`'s softened outputs (and, with alpha > 0, on the labels).

    Arguments:
        student: the model trained; its logits are the Distiller's output.
        teacher: a trained model with the same output shape, run in inference
            mode and never updated.
        temperature: T > 0, the softening of both distributions.
        alpha: weight in [0, 1] of the loss on the labels (the `loss` given to
            `compile`); 1 - alpha goes to the distillation term.

    `compile(optimizer, loss=None, metrics=None, ...)` takes the loss on the
    labels (needed when alpha > 0; with alpha = 0 it is only reported);
    sample weights weigh that loss and the metrics, not the distillation term.
    `fit` and `evaluate` report `loss` (the weighted sum, plus the student's
    regularization losses in training), `distillation_loss`, `student_loss`
    (the loss on the labels, when given) and the compiled metrics of the
    student.
    """

    def __init__(self, student, teacher, temperature=1.0, alpha=0.0, **kwargs):
        super().__init__(**kwargs)
        _check_shapes(_output_shape(student), _output_shape(teacher))
        self.student = student
        self.teacher = teacher
        self.temperature = check_number("temperature", temperature, positive=True)
        self.alpha = check_fraction("alpha", alpha, include_one=True)
        self.label_loss = None
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.distillation_tracker = tf.keras.metrics.Mean(name="distillation_loss")
        self.student_tracker = tf.keras.metrics.Mean(name="student_loss")

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        if loss is None and self.alpha > 0:
            raise ValueError(f"Distiller: alpha={self.alpha} weighs a loss on the labels; pass it as compile(loss=...)")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.label_loss = None if loss is None else tf.keras.losses.get(loss)

    @property
    def metrics(self):
        metrics = [self.loss_tracker, self.distillation_tracker]
        if self.label_loss is not None:
            metrics.append(self.student_tracker)
        compiled = getattr(self, "compiled_metrics", None)
        return metrics + (compiled.metrics if compiled is not None else [])

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _loss(self, x, y, sample_weight, logits):
        teacher_logits = self.teacher(x, training=False)
        # Static shapes are known when the step is traced: a subclassed
        # teacher or student that slipped past __init__ is caught here.
        _check_shapes(logits.shape, teacher_logits.shape)
        distill = distillation_loss(teacher_logits, logits, self.temperature)
        self.distillation_tracker.update_state(distill)
        loss = (1.0 - self.alpha) * distill
        if self.label_loss is not None:
            hard = self.label_loss(y, logits, sample_weight)
            self.student_tracker.update_state(hard)
            loss += self.alpha * hard
        return loss

    def _results(self, y, sample_weight, logits, loss):
        self.loss_tracker.update_state(loss)
        self.compiled_metrics.update_state(y, logits, sample_weight)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits = self.student(x, training=True)
            loss = self._loss(x, y, sample_weight, logits)
            if self.student.losses:
                loss += tf.add_n(self.student.losses)
        self.optimizer.minimize(loss, self.student.trainable_variables, tape=tape)
        return self._results(y, sample_weight, logits, loss)

    def test_step(self, data):
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        logits = self.student(x, training=False)
        return self._results(y, sample_weight, logits, self._loss(x, y, sample_weight, logits))

    def get_config(self):
        return {
            "name": self.name,
            "student": tf.keras.utils.serialize_keras_object(self.student),
            "teacher": tf.keras.utils.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = tf.keras.utils.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)
