"""After `import tfbin`, autograph leaves Keras 2's own code alone and still converts the layers' `call`."""
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

    class Flip(tf.keras.layers.Layer):
        # Python control flow on a tensor: it trains only if autograph converts this call.
        def call(self, x):
            if tf.reduce_sum(x) > 0:
                return x
            return -x

    inputs = tf.keras.Input((8, 8, 1))
    model = tf.keras.Model(inputs, zoo.digits_resnet(width=4)(Flip()(inputs)))
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(np.ones((8, 8, 8, 1), np.float32), np.zeros(8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    print(len([name for name in os.listdir(os.environ["TMPDIR"]) if name.startswith("__autograph_generated")]))
""")


def test_a_first_fit_converts_the_layers_but_not_keras_itself(tmp_path):
    # Autograph writes one file per module it converts into the temporary directory. Converting
    # tf_keras' training loop, as TensorFlow 2.16 does unless told, wrote about 150 of them here.
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    env.update(TMPDIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    program = tmp_path / "first_fit.py"  # a file: autograph reads the source of what it converts
    program.write_text(_FIRST_FIT)
    child = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    converted_modules = int(child.stdout.split()[-1])
    assert 0 < converted_modules < 40
