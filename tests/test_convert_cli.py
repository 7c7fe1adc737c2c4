import json
import os
import resource
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _convert_helpers import digits, pruned_channel_model, run_cli, tamper, tiny_net


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    # Odd characters on purpose: nothing may pass a path through a shell.
    directory = tmp_path_factory.mktemp("models") / "a dir with 'quotes' & $(x)"
    directory.mkdir()
    mbn = directory / "mbn 2x2's.keras"
    tiny_net("mbn", 2, 2).save(mbn)
    pruned = directory / "pruned.h5"
    pruned_channel_model().save(pruned)
    return {"dir": directory, "mbn": mbn, "pruned": pruned}


def written(directory):
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".tflite", ".part"))


def test_convert_command_writes_lce_and_baselines_with_json(saved, tmp_path):
    out = tmp_path / "out put" / "model.tflite"
    out.parent.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "tfbin.cli", "convert", str(saved["mbn"]), "-o", str(out),
         "--calibration", "digits", "--baseline", "float", "--baseline", "int8", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    # Two binary layers, one LceBconv2d per activation base with both weight bases stacked in it.
    assert summary["census"]["LceBconv2d"] == 4 and summary["float_fallbacks"] == []
    assert set(summary["timings"]) == {"strip_s", "lce_s", "checks_s", "parity_s", "total_s"}
    assert summary["size_bytes"] == out.stat().st_size
    assert summary["parity"]["argmax_agreement"] == 1.0
    assert summary["parity"]["samples"] == 256
    assert set(summary["baselines"]) == {"float", "int8"}
    for kind in ("float", "int8"):
        path = out.parent / f"model.{kind}.tflite"
        assert summary["baselines"][kind]["output"] == str(path)
        assert path.stat().st_size == summary["baselines"][kind]["size_bytes"]
        assert "LceBconv2d" not in summary["baselines"][kind]["census"]
    assert written(out.parent) == ["model.float.tflite", "model.int8.tflite", "model.tflite"]
    assert "digits" in result.stderr


def test_convert_prints_census_table(saved, tmp_path, capsys):
    npy = tmp_path / "calibration.npy"
    np.save(npy, digits().x_test[:100])
    status, out, err = run_cli(capsys, "convert", saved["mbn"], "-o", tmp_path / "m.tflite", "--calibration", npy)
    assert status == 0, err
    assert "LceBconv2d" in out and "binary convolution" in out
    assert "float fallbacks: none" in out and "over 100 samples" in out


def test_float_fallback_fails_unless_allowed(saved, tmp_path, capsys):
    out = tmp_path / "pruned.tflite"
    status, _, err = run_cli(capsys, "convert", saved["pruned"], "-o", out)
    assert status == 1
    assert "pruned_conv" in err and "--allow-float-fallback" in err and "nothing was written" in err
    assert "standard-normal" in err  # no calibration data: says real data judges better
    assert written(tmp_path) == []
    status, out_text, err = run_cli(capsys, "convert", saved["pruned"], "-o", out, "--allow-float-fallback")
    assert status == 0, err
    assert "float fallbacks: pruned_conv" in out_text and out.exists()


def test_unfaithful_conversion_is_refused_and_nothing_written(saved, tmp_path, capsys, monkeypatch):
    from tfbin.convert import converter

    real = converter.lce_flatbuffer
    # A converter bug in miniature: one binary convolution's output scale has the wrong sign.
    monkeypatch.setattr(
        converter, "lce_flatbuffer",
        lambda model: tamper(real(model), "LceBconv2d", 2, lambda multiplier: -multiplier),
    )
    status, out, err = run_cli(
        capsys, "convert", saved["mbn"], "-o", tmp_path / "bad.tflite", "--calibration", "digits", "--json"
    )
    assert status == 1
    assert "disagrees with Keras" in err and "nothing was written" in err
    failure = json.loads(out)
    assert failure["parity"]["p90_rel_error"] > 0.05
    assert written(tmp_path) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-model.keras", "-o", "{tmp}/m.tflite"], "does not exist"),
        (["{tmp}/garbage.keras", "-o", "{tmp}/m.tflite"], "cannot load model"),
        (["{mbn}", "-o", "{tmp}/missing dir/m.tflite"], "not a writable directory"),
        (["{mbn}", "-o", "{tmp}"], "is a directory"),
        (["{mbn}", "-o", "{tmp}/m.tflite", "--calibration", "{tmp}/wrong-shape.npy"], "shape (5, 3)"),
        (["{mbn}", "-o", "{tmp}/m.tflite", "--calibration", "{tmp}/none.npy"], "no such file"),
        (["{mbn}", "-o", "{tmp}/m.tflite", "--min-agreement", "1.5"], "--min-agreement"),
        (["{mbn}", "-o", "{tmp}/m.tflite", "--baseline", "int4"], "--baseline"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(saved, tmp_path, capsys, args, message):
    (tmp_path / "garbage.keras").write_bytes(b"not a model at all")
    np.save(tmp_path / "wrong-shape.npy", np.zeros((5, 3), np.float32))
    argv = [a.format(tmp=tmp_path, mbn=saved["mbn"]) for a in args]
    status, out, err = run_cli(capsys, "convert", *argv)
    assert status == 2
    assert message in err
    assert written(tmp_path) == []


def _fail_writes_after_conversion(monkeypatch, how):
    """After the conversion, before anything is written: the disk fills up or the output folder vanishes.

    "full": no file may grow past the size of the smallest output (RLIMIT_FSIZE, which the kernel enforces
    for root too; Python ignores its SIGXFSZ), so one output fits and another does not.
    """
    from tfbin.cli import convert as convert_command

    real = convert_command._convert

    def convert_then_fail(args, model, x):
        conversion, extra = real(args, model, x)
        outputs = convert_command._files(conversion, args.output)
        for path, result in extra.values():
            outputs.update(convert_command._files(result, path))
        if how == "full":
            sizes = sorted(len(data) for data in outputs.values())
            assert sizes[0] < sizes[-1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (sizes[0], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        else:
            shutil.rmtree(os.path.dirname(args.output))
        return conversion, extra

    monkeypatch.setattr(convert_command, "_convert", convert_then_fail)


@pytest.mark.parametrize("how", ["full", "gone"])
def test_a_failed_write_leaves_no_partial_output_and_says_so_in_one_line(saved, tmp_path, capsys, monkeypatch, how):
    folder = tmp_path / "out"
    folder.mkdir()
    if how == "full":
        # OpenVINO: an .xml and its .bin, replacing an earlier pair; they must change together or not at all.
        target, out, before = ["--target", "openvino"], folder / "model.xml", {"model.xml": b"<old/>", "model.bin": b"old"}
    else:
        target, out, before = ["--baseline", "float"], folder / "model.tflite", {}
    for name, data in before.items():
        (folder / name).write_bytes(data)
    _fail_writes_after_conversion(monkeypatch, how)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        status, stdout, err = run_cli(capsys, "convert", saved["mbn"], "-o", out, *target, "--json")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert status == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("tfbin convert: error: cannot write")
    assert "nothing was written" in errors[0]
    assert json.loads(stdout)["error"] in errors[0]
    left = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    assert left == before  # the earlier pair untouched, no half file, no temporary
