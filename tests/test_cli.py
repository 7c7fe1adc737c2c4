import json
import os
import subprocess
import sys

import pytest

import tfbin
from tfbin import cli


from _command import TFBIN, assert_one_line_per_epoch, run_tfbin as tfbin_command


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert tfbin.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize("epochs", ["0", "-3", "two"])
def test_demo_rejects_non_positive_epochs(capsys, tmp_path, epochs):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--epochs", epochs, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_demo_rejects_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--epochs", "1", "--out", str(blocker / "out")])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
    assert blocker.read_text() == "not a directory"


def test_demo_end_to_end_writes_report_and_plot(tmp_path):
    out = tmp_path / "demo"
    result = tfbin_command("demo", "--epochs", "3", "--width", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["models"], report
    for row in report["models"]:
        for key in ("name", "accuracy", "bit_ops", "size_bytes", "latency_ms",
                    "parity_max_abs_diff", "argmax_agreement"):
            assert key in row
        if "int8_layers" in row:  # int8 moves outputs: 0.98 agreement is held, or the refusal is recorded
            assert row["argmax_agreement"] >= 0.98 or row["int8_refused"], row
        else:
            assert row["argmax_agreement"] >= 0.99
        # 10 classes: chance is 0.1. PaBT gets 3 epochs for warm-up, pruning 9 -> 1
        # convolutions and fine-tuning, so it is only asked to have learned something.
        assert row["accuracy"] > (0.25 if row["name"].startswith("pabt") else 0.5)
        assert row["bit_ops"] > 0 and row["size_bytes"] > 0 and row["latency_ms"] > 0
        assert row["op_census"].get("LceBconv2d", 0) >= 4
    rows = {row["name"]: row for row in report["models"]}
    assert set(rows) == {"bnn", "bnn_int8", "larq_quantconv", "mbn_3x3", "pabt_3x3_to_1x1"}
    assert rows["bnn_int8"]["int8_layers"] and rows["bnn_int8"]["op_census"]["LceBconv2d"] == 4
    bnn, pabt, mbn = rows["bnn"], rows["pabt_3x3_to_1x1"], rows["mbn_3x3"]
    assert pabt["bit_ops"] == bnn["bit_ops"] == rows["larq_quantconv"]["bit_ops"]
    assert mbn["bit_ops"] == 9 * bnn["bit_ops"]
    assert pabt["op_census"]["LceBconv2d"] == bnn["op_census"]["LceBconv2d"] == 4
    assert mbn["op_census"]["LceBconv2d"] == 12  # 4 layers, one per activation base with 3 weight bases stacked
    assert abs(pabt["size_bytes"] - bnn["size_bytes"]) <= 0.01 * bnn["size_bytes"]
    # The smoothness figures the demo prints are in the report too.
    assert 0.0 <= pabt["pabt_max_drop"] <= pabt["pabt_max_fall"] <= 1.0
    assert "pabt_max_drop" not in bnn
    png = out / "training_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "argmax" in result.stdout
    assert not [p for p in os.listdir(out) if p.endswith(".part")]
    # Its output is a pipe, not a terminal: one line per epoch of each row, and no progress bars.
    assert_one_line_per_epoch(result.stdout, [f"epoch {e}/3" for e in (1, 2, 3)] * 4)


def test_write_atomic_gives_plain_file_permissions_and_leaves_no_temporary(tmp_path):
    from tfbin.files import write_atomic

    umask = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "out.json"), b"{}")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.json").read_bytes() == b"{}"
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["out.json"]


def test_summary_of_a_file_that_is_not_a_model_is_a_clear_error(capsys, tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    assert cli.main(["summary", str(junk)]) == 2
    assert "is not a Keras model file" in capsys.readouterr().err


def test_help_and_argument_errors_do_not_load_tensorflow():
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for argv in (["--help"], ["demo", "--help"], ["tune", "--help"], ["convert", "--help"], ["bench", "--help"],
                 ["demo", "--epochs", "0"], ["tune", "--out", "x", "--tuner", "bogus"],
                 ["convert", "m.keras", "-o", "m.xml", "--target", "bogus"],
                 ["convert", "m.keras", "-o", "m.tflite", "--target", "openvino"],
                 ["bench", "m.xml", "--engine", "bogus"]):
        result = subprocess.run([sys.executable, "-X", "importtime", TFBIN, *argv],
                                capture_output=True, text=True, env=env, timeout=120)
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
        assert "tfbin.cli" in imported, result.stderr[-2000:]
        assert not {"tensorflow", "tf_keras", "larq", "larq_compute_engine", "openvino", "nncf"} & imported, argv
        assert result.returncode == (0 if argv[-1] == "--help" else 2)


def test_tune_help_explains_the_distributed_search():
    result = tfbin_command("tune", "--help")
    assert result.returncode == 0, result.stderr
    usage, epilog = result.stdout.split("\ndistributed search")
    for variable in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        assert variable in epilog and variable not in usage
    assert "chief" in epilog and "worker" in epilog and "--worker-timeout" in epilog


def test_commands_print_no_tensorflow_start_up_noise(tmp_path):
    import h5py

    # A well-formed .h5 whose model Keras cannot rebuild: the command loads TensorFlow to find out.
    path = tmp_path / "unknown.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "NoSuchLayer", "config": {"name": "x"}})
    result = tfbin_command("summary", path, quiet_tensorflow=False, timeout=300)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"tfbin summary: error: cannot load model {str(path)!r}: ") and "NoSuchLayer" in line


def test_library_errors_are_said_in_the_commands_flags():
    parser = cli.build_parser()
    convert = parser.parse_args(["convert", "m.keras", "-o", "m.tflite"]).parser
    assert cli.args.translate("Pass allow_float_fallback=True to accept that", convert) == (
        "Pass --allow-float-fallback to accept that"
    )
    assert cli.args.translate("calibration='x.npy': no such file", convert) == "--calibration 'x.npy': no such file"
    demo = parser.parse_args(["demo"]).parser
    assert cli.args.translate("pass data_dir=DIR or manual_dir=FOLDER", demo) == (
        "pass --data-dir DIR or --manual-dir FOLDER"
    )
    # Plain words and names the command has no flag for stay as they are.
    assert cli.args.translate("trained for 3 epochs; update_every must be >= 1", demo) == (
        "trained for 3 epochs; update_every must be >= 1"
    )


def test_unknown_demo_method_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--method", "nope"])
    assert exit_info.value.code == 2
    assert "--method" in capsys.readouterr().err
