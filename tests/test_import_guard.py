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


def test_tensorflow_imported_but_keras_untouched_still_works():
    result = run_python("import tensorflow as tf\nimport tfbin\nprint(tf.keras.layers.Layer.__module__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_keras3_already_active_raises_clear_import_error():
    result = run_python("import tensorflow as tf\ntf.keras.layers.Layer\nimport tfbin")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
    assert "Import tfbin before" in result.stderr


@pytest.mark.parametrize("value", ["1"])
def test_environment_variable_is_set_after_import(value):
    import tfbin  # noqa: F401

    assert os.environ["TF_USE_LEGACY_KERAS"] == value
