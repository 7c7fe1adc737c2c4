"""After `import tfbin`, autograph leaves Keras 2's internals alone and still converts the code users write."""
import os
import subprocess
import sys
import textwrap

_FIRST_FIT = textwrap.dedent("""
    import os
    import numpy as np
    import tfbin
    import tensorflow as tf
    from tfbin import zoo

    # Python control flow on tensors, in a layer's call and in a model's own train_step:
    # it runs inside fit only if autograph converts it.
    class Flip(tf.keras.layers.Layer):
        def call(self, x):
            if tf.reduce_sum(x) > 0:
                return x
            return -x

    class Stepped(tf.keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = self.compiled_loss(y, self(x, training=True))
            if loss > 0:
                self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
            return {"loss": loss}

    inputs = tf.keras.Input((8, 8, 1))
    model = Stepped(inputs, zoo.digits_resnet(width=4)(Flip()(inputs)))
    model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(np.ones((8, 8, 8, 1), np.float32), np.zeros(8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    print(len([name for name in os.listdir(os.environ["TMPDIR"]) if name.startswith("__autograph_generated")]))
""")


def test_a_first_fit_converts_the_layers_but_not_keras_itself(tmp_path):
    # Autograph writes one file per module it converts into the temporary directory. Converting
    # all of tf_keras, as TensorFlow 2.16 does unless told, wrote about 150 of them here; now about 25.
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    env.update(TMPDIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    program = tmp_path / "first_fit.py"  # a file: autograph reads the source of what it converts
    program.write_text(_FIRST_FIT)
    child = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    converted_modules = int(child.stdout.split()[-1])
    assert 0 < converted_modules < 60
