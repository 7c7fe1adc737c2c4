import os
import subprocess
import sys

import pytest


def run_python(code):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_import_tfbin_first_routes_tf_keras_to_keras2():
    result = run_python(
        "import tfbin, tensorflow as tf, larq as lq\n"
        "print(tf.keras.layers.Layer.__module__)\n"
        "lq.optimizers.CaseOptimizer((lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),"
        " default_optimizer=tf.keras.optimizers.legacy.Adam())"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_tensorflow_imported_first_with_legacy_keras_set_works():
    result = run_python(
        "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
        "import tensorflow as tf\nimport tfbin\nprint(tf.keras.layers.Layer.__module__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


@pytest.mark.parametrize(
    "code",
    [
        "import tensorflow as tf\nimport tfbin",  # TensorFlow routed its module path to Keras 3
        "import tensorflow as tf\ntf.keras.layers.Layer\nimport tfbin",
    ],
)
def test_tensorflow_imported_with_keras3_raises_clear_import_error(code):
    result = run_python(code)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
    assert "Import tfbin before TensorFlow" in result.stderr


def test_environment_variable_is_set_after_import():
    import tfbin  # noqa: F401

    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"


def test_saved_model_loads_in_a_fresh_process_after_import_tfbin(tmp_path):
    import numpy as np

    from tfbin import zoo

    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    result = run_python(
        "import numpy as np, tfbin, tensorflow as tf\n"
        f"m = tf.keras.models.load_model({str(tmp_path / 'm.keras')!r})\n"
        f"y = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
        f"print(np.abs(y - np.load({str(tmp_path / 'y.npy')!r})).max())"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) == 0.0
