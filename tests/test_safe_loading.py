"""Model files never run their author's code unless the user opts in; `import tfbin` always registers.

The model files are written by another process, as a user receives them: a
Keras model whose `Lambda` layer, a Python lambda stored as bytecode, writes a
marker file when it runs, saved as `.h5`, `.keras` and SavedModel.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

import tfbin
from _command import run_tfbin
from tfbin import loading

_WRITE_FILES = textwrap.dedent(
    """
    import sys
    import tfbin
    import tensorflow as tf
    from tfbin import zoo

    folder, marker = sys.argv[1], sys.argv[2]
    inputs = tf.keras.Input((8, 8, 1))
    hidden = tf.keras.layers.Flatten()(inputs)
    # Runs whenever Keras rebuilds the model: the code a model file must not run unasked.
    touch = eval(f"lambda x: (open({marker!r}, 'a').write('ran'), x)[1]")
    outputs = tf.keras.layers.Lambda(touch, name="payload")(tf.keras.layers.Dense(4, name="head")(hidden))
    model = tf.keras.Model(inputs, outputs)
    model.save(f"{folder}/evil.h5")
    model.save(f"{folder}/evil.keras")
    model.save(f"{folder}/evil_savedmodel", save_format="tf")
    zoo.digits_resnet(width=4, conv="mbn", weight_bases=2, activation_bases=2).save(f"{folder}/mbn.h5")
    """
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    marker = folder / "MARKER"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", _WRITE_FILES, str(folder), str(marker)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, marker


@pytest.fixture
def marker(files):
    _, path = files
    if path.exists():
        path.unlink()
    return path


EVIL = ("evil.h5", "evil.keras", "evil_savedmodel")


@pytest.mark.parametrize("name", EVIL)
def test_library_refuses_code_in_every_format_before_running_it(files, marker, name):
    folder, _ = files
    with pytest.raises(loading.UnsafeModelError) as error:
        loading.load_model(folder / name)
    assert error.value.findings == [("'payload' (Lambda)", "its function as Python bytecode")]
    assert "safe_mode=False" in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize("name", EVIL)
def test_library_runs_the_code_only_when_the_caller_opts_in(files, marker, name):
    folder, _ = files
    model = loading.load_model(folder / name, safe_mode=False)
    assert [layer.name for layer in model.layers][-1] == "payload"
    assert marker.exists()


@pytest.mark.parametrize("command", [["summary"], ["convert", "-o", "{out}/model.tflite"]])
@pytest.mark.parametrize("name", EVIL)
def test_commands_refuse_code_and_say_how_to_allow_it(files, marker, tmp_path, command, name):
    folder, _ = files
    args = [part.format(out=tmp_path) for part in command]
    result = run_tfbin(args[0], folder / name, *args[1:], timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert "layer 'payload' (Lambda) stores its function as Python bytecode" in line
    assert "--unsafe-load" in line and str(folder / name) in line
    assert not marker.exists() and os.listdir(tmp_path) == []


def test_unsafe_load_runs_the_code(files, marker):
    folder, _ = files
    result = run_tfbin("summary", folder / "evil.h5", "--unsafe-load", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "head" in result.stdout and marker.exists()


def test_a_model_without_code_loads_in_safe_mode(files):
    folder, _ = files
    model = loading.load_model(folder / "mbn.h5")
    assert any(isinstance(layer, tfbin.layers.MultiBaseConv2D) for layer in model.layers)


def test_code_is_found_however_deeply_it_is_nested():
    lambda_layer = {"class_name": "Lambda", "config": {"name": "inner", "function": ["YWJj", None, None],
                                                       "function_type": "function", "output_shape": ["eA==", None,
                                                                                                     None],
                                                       "output_shape_type": "lambda"}}
    nested = {"class_name": "Functional", "config": {"name": "outer", "layers": [
        {"class_name": "TimeDistributed", "config": {"name": "wrap", "layer": lambda_layer}},
        {"class_name": "Dense", "config": {"name": "d", "activation": {"class_name": "__lambda__",
                                                                       "config": {"value": "eA=="}}}},
    ]}}
    assert loading.stored_code(nested) == [
        ("'inner' (Lambda)", "its output_shape as Python bytecode"),
        ("'d' (Dense)", "a Python lambda as bytecode"),
    ]
    assert loading.stored_code(json.loads(json.dumps(lambda_layer).replace('"lambda"', '"function"'))) == []


def test_sub_bit_files_refuse_code_in_their_model_config(files, marker):
    import struct
    import zlib

    from tfbin import subbit

    folder, _ = files
    with zipfile.ZipFile(folder / "evil.keras") as archive:
        config = json.loads(archive.read("config.json"))
    header = zlib.compress(json.dumps({"model": config, "weights": []}).encode())
    body = struct.pack("<8sHHIQ", subbit.MAGIC, subbit.VERSION, 0, len(header), 0) + header
    data = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(loading.UnsafeModelError, match="'payload' \\(Lambda\\)"):
        subbit.from_bytes(data, name="evil.tfbsub")
    assert not marker.exists()


def test_import_tfbin_registers_its_layers_in_a_package_run_with_dash_m(files, tmp_path):
    folder, _ = files
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("import tfbin\n")
    (package / "load.py").write_text(textwrap.dedent(
        f"""
        import tensorflow as tf
        model = tf.keras.models.load_model({str(folder / 'mbn.h5')!r}, compile=False)
        print(sorted({{type(layer).__name__ for layer in model.layers}}))
        """
    ))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "userpkg.load"], cwd=tmp_path, capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MultiBaseConv2D" in result.stdout
