"""Every command that reads files answers a bad one with exit 2 and one line naming it, never a traceback.

The files are truncated, random or of the wrong kind: models for `summary`
and `convert`, calibration arrays for `convert`, .tflite and .xml/.bin for
`bench`. Each case runs the console command with a time limit, so a reader
that hangs on a bad file fails here too.
"""
import os
import zipfile

import numpy as np
import pytest

import tfbin
from _command import run_tfbin

SECONDS_PER_CASE = 120


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Valid files of every kind, from one small digits network, for the cases to damage or swap."""
    from tfbin import zoo
    from tfbin.convert import convert, convert_openvino
    from tfbin.testing import realistic_weights

    folder = tmp_path_factory.mktemp("good")
    x = np.random.default_rng(0).standard_normal((16, 8, 8, 1)).astype(np.float32)
    model = realistic_weights(zoo.digits_resnet(width=8, conv="bnn"), x)
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")
    np.save(folder / "inputs.npy", x)
    convert(model, calibration_data=x).save(str(folder / "model.tflite"))
    convert_openvino(model, calibration_data=x).save(str(folder / "model.xml"))
    return folder


def _truncated(source, target, fraction=0.5):
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])


def _random(target, size=4096):
    target.write_bytes(np.random.default_rng(len(str(target))).bytes(size))


def _weights_only_h5(good, target):
    import h5py

    with h5py.File(good / "model.h5") as source, h5py.File(target, "w") as copy:
        source.copy("model_weights", copy)


def _keras_without_config(good, target):
    with zipfile.ZipFile(good / "model.keras") as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            if name != "config.json":
                copy.writestr(name, source.read(name))


def _keras_with_bad_json(good, target):
    with zipfile.ZipFile(target, "w") as copy:
        copy.writestr("config.json", "{not json")


def _saved_model_without_keras(good, target):
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"\x08\x01")


def _damaged_keras_metadata(good, target):
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"\x08\x01")
    (target / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff\xff\x0f")


# (name, how to make it from the good files): every one must be refused as a model.
MODELS = {
    "empty.keras": lambda good, t: t.write_bytes(b""),
    "random.keras": lambda good, t: _random(t),
    "random.h5": lambda good, t: _random(t),
    "truncated.keras": lambda good, t: _truncated(good / "model.keras", t),
    "truncated.h5": lambda good, t: _truncated(good / "model.h5", t),
    "header_only.h5": lambda good, t: _truncated(good / "model.h5", t, 0.01),
    "weights_only.h5": _weights_only_h5,
    "no_config.keras": _keras_without_config,
    "bad_json.keras": _keras_with_bad_json,
    "tflite_as.keras": lambda good, t: t.write_bytes((good / "model.tflite").read_bytes()),
    "npy_as.h5": lambda good, t: t.write_bytes((good / "inputs.npy").read_bytes()),
    "text.keras": lambda good, t: t.write_text("a model, honest\n"),
    "empty_dir": lambda good, t: t.mkdir(),
    "pipe.keras": lambda good, t: os.mkfifo(t),  # reading it would block: refused unread
    "plain_savedmodel": _saved_model_without_keras,
    "damaged_metadata": _damaged_keras_metadata,
}

CALIBRATIONS = {
    "nan.npy": lambda good, t: np.save(t, np.full((4, 8, 8, 1), np.nan, np.float32)),
    "inf.npy": lambda good, t: np.save(t, np.full((4, 8, 8, 1), np.inf, np.float32)),
    "wrong_shape.npy": lambda good, t: np.save(t, np.zeros((4, 9, 9, 1), np.float32)),
    "wrong_rank.npy": lambda good, t: np.save(t, np.zeros((8, 8), np.float32)),
    "complex.npy": lambda good, t: np.save(t, np.zeros((4, 8, 8, 1), np.complex64)),
    "strings.npy": lambda good, t: np.save(t, np.full((4, 8, 8, 1), "x")),
    "objects.npy": lambda good, t: np.save(t, np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True),
    "empty_array.npy": lambda good, t: np.save(t, np.zeros((0, 8, 8, 1), np.float32)),
    "truncated.npy": lambda good, t: _truncated(good / "inputs.npy", t),
    "random.npy": lambda good, t: _random(t),
}

TFLITES = {
    "empty.tflite": lambda good, t: t.write_bytes(b""),
    "random.tflite": lambda good, t: _random(t),
    "truncated.tflite": lambda good, t: _truncated(good / "model.tflite", t),
    "keras_as.tflite": lambda good, t: t.write_bytes((good / "model.keras").read_bytes()),
    "flipped.tflite": lambda good, t: t.write_bytes(
        (good / "model.tflite").read_bytes()[:4] + b"XXXX" + (good / "model.tflite").read_bytes()[8:]
    ),
}


def _xml_pair(good, t, xml=None, weights=None):
    t.write_text(xml if xml is not None else (good / "model.xml").read_text())
    if weights is not None:
        t.with_suffix(".bin").write_bytes(weights)


XMLS = {
    "random.xml": lambda good, t: _xml_pair(good, t, xml="<net><layers><layer", weights=b""),
    "truncated.xml": lambda good, t: _xml_pair(good, t, xml=(good / "model.xml").read_text()[:500],
                                               weights=(good / "model.bin").read_bytes()),
    "no_bin.xml": lambda good, t: _xml_pair(good, t),
    "short_bin.xml": lambda good, t: _xml_pair(good, t, weights=(good / "model.bin").read_bytes()[:100]),
    "empty_bin.xml": lambda good, t: _xml_pair(good, t, weights=b""),
    "tflite_as.xml": lambda good, t: (t.write_bytes((good / "model.tflite").read_bytes()),
                                      t.with_suffix(".bin").write_bytes(b"")),
}


def _cases():
    for name in MODELS:
        yield "model", name, ["summary", "{file}"]
        yield "model", name, ["convert", "{file}", "-o", "{out}/m.tflite"]
    yield "model", "random.keras", ["convert", "{file}", "--target", "openvino", "-o", "{out}/m.xml"]
    for name in CALIBRATIONS:
        yield "calibration", name, ["convert", "{good}/model.keras", "-o", "{out}/m.tflite", "--calibration", "{file}"]
    for name in TFLITES:
        yield "tflite", name, ["bench", "{file}", "--runs", "1", "--warmup", "0"]
    for name in XMLS:
        yield "xml", name, ["bench", "{file}", "--engine", "openvino", "--runs", "1", "--warmup", "0"]


CASES = list(_cases())
MAKERS = {"model": MODELS, "calibration": CALIBRATIONS, "tflite": TFLITES, "xml": XMLS}


@pytest.mark.parametrize("kind,name,argv", CASES, ids=[f"{argv[0]}-{name}" for _, name, argv in CASES])
def test_a_bad_file_is_one_line_naming_it_and_exit_2(good, tmp_path, kind, name, argv):
    path = tmp_path / "in" / name
    path.parent.mkdir()
    MAKERS[kind][name](good, path)
    out = tmp_path / "out"
    out.mkdir()
    args = [part.format(file=path, good=good, out=out) for part in argv]
    result = run_tfbin(*args, timeout=SECONDS_PER_CASE)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"tfbin {argv[0]}: error: "), lines
    assert str(path) in lines[0], lines[0]
    assert os.listdir(out) == []


def test_the_cases_cover_every_reader():
    assert {argv[0] for _, _, argv in CASES} == {"summary", "convert", "bench"}
    assert len(CASES) >= 50
