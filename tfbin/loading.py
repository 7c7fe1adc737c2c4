"""Loading Keras model files without running their author's code.

A Keras model file can carry Python: a `Lambda` layer built from a Python
`lambda` stores that function as bytecode, and loading the model rebuilds and
runs it. Keras refuses this for `.keras` files (its safe mode), but the legacy
`.h5` and SavedModel formats have no safe mode. `load_model` reads the stored
configuration first, without TensorFlow and without running anything from the
file, and refuses a model that would run embedded Python unless the caller
passes `safe_mode=False` (`--unsafe-load` on the command line).

`check_model_file` is that first step alone: it says what kind of file a path
is, or raises `ModelFileError` naming the file and what is wrong with it
(missing, truncated, not a model, weights only) or `UnsafeModelError` naming
the layers that hold code.

```python
import os, tempfile
import tfbin
import tensorflow as tf
from tfbin import loading

inputs = tf.keras.Input((4,))
model = tf.keras.Model(inputs, tf.keras.layers.Lambda(lambda x: 2 * x, name="double")(inputs))
path = os.path.join(tempfile.mkdtemp(), "model.h5")
model.save(path)
try:
    loading.load_model(path)
except loading.UnsafeModelError as error:
    print(error)                  # names layer 'double' (Lambda) and safe_mode=False
trusted = loading.load_model(path, safe_mode=False)   # only for files you trust
```
"""
import json
import os
import zipfile

__all__ = ["ModelFileError", "UnsafeModelError", "check_model_file", "load_model", "stored_code"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ModelFileError(ValueError):
    """A model file that cannot be loaded: the message names the file and the problem."""


class UnsafeModelError(ModelFileError):
    """A model file whose loading would run Python code stored in it.

    `findings` lists (layer, what it stores); `reason` is the message without
    the advice on how to load it anyway, which depends on the caller.
    """

    def __init__(self, path, findings):
        self.path = path
        self.findings = findings
        described = "; ".join(f"layer {layer} stores {what}" for layer, what in findings)
        self.reason = f"model {path!r} would run Python code stored in the file: {described}"
        super().__init__(
            f"{self.reason}. Load it only if you trust its author: pass safe_mode=False"
        )


def stored_code(config):
    """(layer, what) for every Python function a Keras model config stores as bytecode.

    `config` is the decoded JSON of a model or layer config in any of Keras's
    formats. A `Lambda` built from a Python lambda stores its function (and
    its output shape or mask, when those are lambdas) with "<key>_type":
    "lambda"; the `.keras` format stores a lambda anywhere as a "__lambda__"
    object. A layer is named as "'name' (class)", nested models included.
    """
    findings = []

    def visit(value, layer):
        if isinstance(value, list):
            for item in value:
                visit(item, layer)
            return
        if not isinstance(value, dict):
            return
        inner = value.get("config")
        if isinstance(value.get("class_name"), str) and isinstance(inner, dict) and "name" in inner:
            layer = f"{inner['name']!r} ({value['class_name']})"
        if value.get("class_name") == "__lambda__":
            findings.append((layer, "a Python lambda as bytecode"))
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_type") and item == "lambda":
                findings.append((layer, f"its {key[:-len('_type')]} as Python bytecode"))
            visit(item, layer)

    try:
        visit(config, "'(model)'")
    except RecursionError:
        raise ModelFileError("the stored model config is nested too deeply to check") from None
    return list(dict.fromkeys(findings))


def _json(text, path, where):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"model {path!r}: {where} is not valid JSON ({error})") from None


def _h5_config(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
    except (OSError, ValueError) as error:
        raise ModelFileError(f"model {path!r} is not a readable HDF5 file (truncated or damaged?): {error}") from None
    if config is None:
        raise ModelFileError(
            f"model {path!r} holds weights but no model (saved with save_weights?): load the weights into "
            "a model built in code instead"
        )
    if isinstance(config, bytes):
        config = config.decode("utf-8", "replace")
    return _json(config, path, "its model_config")


def _keras_config(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return _json(archive.read("config.json"), path, "config.json")
    except KeyError:
        raise ModelFileError(f"model {path!r} is a zip archive without config.json: not a .keras model") from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        raise ModelFileError(f"model {path!r} is not a readable .keras archive (truncated or damaged?): {error}") from None


def _varint(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _protobuf_fields(data):
    """(field number, value) of a serialized protobuf message; nested messages stay bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + size], pos + size
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            if pos + width > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + width], pos + width
        else:
            raise ValueError(f"unknown wire type {wire_type}")
        yield field, value


# tf_keras/protobuf/saved_metadata.proto: SavedMetadata.nodes = 1; SavedObject.metadata = 5 (a JSON string).
_NODES, _METADATA = 1, 5


def _saved_model_config(path):
    if not any(os.path.isfile(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise ModelFileError(f"model {path!r} is a directory without saved_model.pb: not a SavedModel")
    metadata = os.path.join(path, "keras_metadata.pb")
    if not os.path.isfile(metadata):
        raise ModelFileError(
            f"model {path!r} is a TensorFlow SavedModel without Keras metadata (keras_metadata.pb): "
            "save it from Keras (model.save) to get a Keras model file"
        )
    with open(metadata, "rb") as f:
        data = f.read()
    try:
        nodes = [
            [value.decode("utf-8") for field, value in _protobuf_fields(node) if field == _METADATA]
            for field, node in _protobuf_fields(data) if field == _NODES and isinstance(node, bytes)
        ]
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(f"model {path!r}: keras_metadata.pb is damaged ({error})") from None
    if not nodes:
        raise ModelFileError(f"model {path!r}: keras_metadata.pb describes no Keras objects")
    return [_json(text, path, "keras_metadata.pb") for texts in nodes for text in texts if text]


def _kind_and_config(path):
    if os.path.isdir(path):
        return "SavedModel", _saved_model_config(path)
    if not os.path.isfile(path):  # a pipe or a device would block or never end
        raise ModelFileError(f"model {path!r} is not a regular file or a SavedModel directory")
    with open(path, "rb") as f:
        head = f.read(8)
    if zipfile.is_zipfile(path) or head.startswith(b"PK"):
        return ".keras", _keras_config(path)
    if head == _HDF5_SIGNATURE or _is_hdf5(path):
        return ".h5", _h5_config(path)
    raise ModelFileError(
        f"model {path!r} is not a Keras model file: expected a .keras archive, an .h5 file or a SavedModel directory"
    )


def _is_hdf5(path):
    # HDF5 allows a user block before the signature, at 512, 1024, 2048, ... bytes.
    import h5py

    try:
        return h5py.is_hdf5(path)
    except OSError:
        return False


def check_model_file(path, safe_mode=True):
    """The kind of Keras model file at `path` (".keras", ".h5" or "SavedModel"), read without running it.

    Raises `ModelFileError` when the file is missing, unreadable or not a
    model, and (with `safe_mode`, the default) `UnsafeModelError` when loading
    it would run Python code stored in it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model {path!r} does not exist")
    try:
        kind, config = _kind_and_config(path)
    except PermissionError as error:
        raise ModelFileError(f"model {path!r} cannot be read: {error.strerror}") from None
    if safe_mode:
        findings = stored_code(config)
        if findings:
            raise UnsafeModelError(path, findings)
    return kind


def load_model(path, safe_mode=True, compile=False):
    """The Keras model stored at `path` (`.keras`, `.h5` or SavedModel), with tfbin's layers registered.

    With `safe_mode` (the default), a model that would run Python code stored
    in the file is refused before anything of the file runs (`UnsafeModelError`,
    naming the layers); pass `safe_mode=False` only for files you trust.
    Other unreadable files raise `ModelFileError`.
    """
    import tfbin

    kind = check_model_file(path, safe_mode)
    tfbin.register_keras_objects()
    import tensorflow as tf

    path = os.fspath(path)
    options = {"safe_mode": safe_mode} if kind == ".keras" else {}
    try:
        model = tf.keras.models.load_model(path, compile=compile, **options)
    except Exception as error:  # Keras raises assorted types for files it cannot rebuild
        message = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"cannot load model {path!r}: {message}") from error
    if not isinstance(model, tf.keras.Model):
        raise ModelFileError(f"model {path!r} loaded as {type(model).__name__}, not a Keras model")
    return model
