import json
import os
import stat

import pytest
from _convert_helpers import digits, run_cli, tiny_net

from tfbin.convert import BenchmarkOutputError, baselines, bench, convert, parse_benchmark_output, runner, time_tflite

# What lce_benchmark_model (TFLite's benchmark_model) prints, trimmed: a
# recent build with percentiles, and an older one without.
RECENT = """\
INFO: STARTING!
INFO: Graph: [/data/local/tmp/model.tflite]
INFO: Loaded model /data/local/tmp/model.tflite
INFO: The input model file size (MB): 3.77
INFO: Initialized session in 31.2ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=9 first=87112 curr=51629 min=51629 max=87112 avg=58147.4 std=11478 p5=51629 median=51962 p95=87112
INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=25162 curr=25785 min=25088 max=28105 avg=25743.2 std=716 p5=25120 median=25591 p95=27628
INFO: Inference timings in us: Init: 31215, First inference: 87112, Warmup (avg): 58147.4, Inference (avg): 25743.2
INFO: Memory footprint delta from the start of the tool (MB): init=8.5 overall=12.1
"""
OLDER = """\
count=5 first=118829 curr=105453 min=102652 max=118829 avg=107354 std=5819
count=20 first=45012 curr=44900 min=44801 max=46120 avg=45020.5 std=300
Inference timings in us: Init: 2373, First inference: 118829, Warmup (avg): 107354, Inference (avg): 45020.5
"""


def test_parses_recent_benchmark_model_output():
    latency = parse_benchmark_output(RECENT, threads=4)
    assert latency.median_ms == pytest.approx(25.591)
    assert latency.min_ms == pytest.approx(25.088)
    assert latency.avg_ms == pytest.approx(25.7432)
    assert latency.p90_ms is None  # benchmark_model prints p5/median/p95 only
    assert latency.runs == 50 and latency.threads == 4
    assert latency.init_ms == pytest.approx(31.215) and latency.first_ms == pytest.approx(87.112)
    assert latency.latency_ms == latency.median_ms


def test_older_output_without_median_uses_the_mean():
    latency = parse_benchmark_output(OLDER)
    assert latency.median_ms is None and latency.latency_ms == pytest.approx(45.0205)
    assert latency.min_ms == pytest.approx(44.801) and latency.runs == 20


@pytest.mark.parametrize("text", ["", "Segmentation fault", RECENT.replace("Inference timings", "Timings")])
def test_output_without_timings_is_an_error(text):
    with pytest.raises(BenchmarkOutputError, match="Inference timings in us"):
        parse_benchmark_output(text)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An LCE BNN and its float and int8 baselines as files."""
    directory = tmp_path_factory.mktemp("bench")
    model = tiny_net("bnn")
    x = digits().x_test
    files = {"bnn.tflite": convert(model, calibration_data=x).tflite}
    for kind in baselines.BASELINES:
        files[f"bnn.{kind}.tflite"] = baselines.baseline(kind, model, x).tflite
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory, [directory / name for name in files]


def test_runner_prints_what_the_parser_reads(models, capsys):
    _, paths = models
    assert runner.main([str(paths[0]), "--runs", "7", "--warmup", "2"]) == 0
    latency = parse_benchmark_output(capsys.readouterr().out)
    assert latency.runs == 7
    assert 0 < latency.min_ms <= latency.median_ms <= latency.p90_ms
    assert runner.main([str(paths[0]) + ".missing"]) == 1
    assert "No such file" in capsys.readouterr().err


def test_time_tflite_statistics(models):
    _, paths = models
    latency = time_tflite(paths[0].read_bytes(), threads=1, warmup=1, runs=5)
    assert latency.runs == 5 and 0 < latency.min_ms <= latency.median_ms <= latency.p90_ms


def test_bench_command_compares_models_as_json_and_plot(models, tmp_path, capsys):
    _, paths = models
    plot = tmp_path / "latency.png"
    status, out, err = run_cli(capsys, "bench", *paths, "--runs", "3", "--warmup", "1", "--json", "--plot", plot)
    assert status == 0, err
    report = json.loads(out)
    assert report["device"] == "host" and report["runs"] == 3
    rows = {row["name"]: row for row in report["models"]}
    assert set(rows) == {"bnn.tflite", "bnn.float.tflite", "bnn.int8.tflite"}
    for row in rows.values():
        assert row["latency_ms"] > 0 and row["median_ms"] == row["latency_ms"]
        assert row["size_bytes"] == os.path.getsize(row["file"])
    assert rows["bnn.tflite"]["census"]["LceBconv2d"] == 2 and rows["bnn.tflite"]["bit_ops"] > 0
    assert rows["bnn.float.tflite"]["bit_ops"] == 0 and rows["bnn.float.tflite"]["flops"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_command_prints_a_table(models, capsys):
    _, paths = models
    status, out, _ = run_cli(capsys, "bench", *paths[:2], "--runs", "2", "--threads", "2")
    assert status == 0
    assert "x fastest" in out and "bnn.float.tflite" in out and "2 thread(s)" in out


def test_bad_files_exit_2_and_write_nothing(models, tmp_path, capsys):
    _, paths = models
    good = paths[0].read_bytes()
    cases = {
        "text.tflite": b"this is not a flatbuffer\n" * 10,
        "truncated.tflite": good[: len(good) // 2],
        "tiny.tflite": good[:6],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    plot = tmp_path / "plot.png"
    for name in [*cases, "missing.tflite"]:
        status, out, err = run_cli(capsys, "bench", paths[0], tmp_path / name, "--plot", plot)
        assert status == 2, name
        assert name in err and ("not a TFLite flatbuffer" in err or "truncated" in err or "cannot read" in err)
        assert out == "" and not plot.exists()


def test_a_file_the_interpreter_cannot_run_is_a_clear_error(tmp_path, capsys):
    import larq_compute_engine as lce
    import tensorflow as tf

    inputs = tf.keras.Input((4,))
    python = tf.keras.layers.Lambda(lambda t: tf.ensure_shape(tf.numpy_function(lambda a: a, [t], tf.float32), (None, 4)))
    path = tmp_path / "pyfunc.tflite"
    path.write_bytes(lce.convert_keras_model(tf.keras.Model(inputs, python(inputs))))
    status, out, err = run_cli(capsys, "bench", path, "--runs", "1")
    assert status == 1 and "pyfunc.tflite: the TFLite interpreter cannot run it" in err and out == ""


def test_an_interpreter_crash_is_a_clear_error(models, tmp_path, capsys, monkeypatch):
    # Some corrupt files pass validation and crash TFLite's interpreter (TensorFlow's too);
    # the host benchmark runs in a child process, here one that crashes like that.
    _, paths = models
    crasher = tmp_path / "crashing_runner.py"
    crasher.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(bench.runner, "__file__", str(crasher))
    status, out, err = run_cli(capsys, "bench", paths[0])
    assert status == 1 and "crashed (SIGSEGV); the file is corrupt" in err and paths[0].name in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "--runs"),
        (["--warmup", "-1"], "--warmup"),
        (["--remote-python", "/usr/bin/python3"], "need --ssh or --adb"),
        (["--ssh", "pi@host", "--ssh-port", "70000", "--remote-python", "p"], "--ssh-port"),
        (["--ssh", "pi@host"], "exactly one of --remote-python and --lce-benchmark"),
        (["--adb", "emulator-5554", "--remote-python", "python"], "--adb needs --lce-benchmark"),
        (["--ssh", "-oProxyCommand=touch pwned", "--lce-benchmark", "b"], "invalid ssh destination"),
        (["--ssh", "pi@host; touch pwned", "--lce-benchmark", "b"], "invalid ssh destination"),
        (["--ssh", "pi@host", "--adb", "serial", "--lce-benchmark", "b"], "not allowed with"),
        (["--adb", "-s other", "--lce-benchmark", "b"], "invalid adb serial"),
        (["--ssh", "pi@host", "--lce-benchmark", "bench\nrm -rf /"], "control characters"),
    ],
)
def test_bad_device_arguments_exit_2(models, tmp_path, capsys, args, message):
    _, paths = models
    status, _, err = run_cli(capsys, "bench", paths[0], *args)
    assert status == 2 and message in err
    assert not (tmp_path / "pwned").exists()


FAKE_ADB = """#!/bin/sh
# Records its arguments, answers like adb, runs nothing it is given.
printf '%s\\n' "$@" >> "{log}"
printf '%s\\n' '---' >> "{log}"
case "$3" in
  push) cp "$4" "{store}/" ;;
  shell)
    case "$4" in
      "mktemp -d "*) echo /data/local/tmp/tfbin.Ab12Cd ;;
      "rm -rf "*) ;;
      *) cat "{output}" ;;
    esac ;;
esac
"""


def test_adb_pushes_runs_lce_benchmark_model_and_cleans_up(models, tmp_path, capsys, monkeypatch):
    _, paths = models
    log, store, output = tmp_path / "adb.log", tmp_path / "device", tmp_path / "output.txt"
    store.mkdir()
    output.write_text(RECENT)
    adb = tmp_path / "bin" / "adb"
    adb.parent.mkdir()
    adb.write_text(FAKE_ADB.format(log=log, store=store, output=output))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{adb.parent}{os.pathsep}{os.environ['PATH']}")

    status, out, err = run_cli(
        capsys, "bench", paths[0], "--adb", "emulator-5554", "--threads", "4", "--runs", "50",
        "--lce-benchmark", "/data/local/tmp/lce benchmark", "--json",
    )
    assert status == 0, err
    row = json.loads(out)["models"][0]
    assert row["median_ms"] == pytest.approx(25.591) and row["threads"] == 4
    calls = [call.strip("\n").split("\n") for call in log.read_text().split("---\n") if call.strip()]
    remote = "/data/local/tmp/tfbin.Ab12Cd"
    assert calls == [
        ["-s", "emulator-5554", "shell", "mktemp -d /data/local/tmp/tfbin.XXXXXX"],
        ["-s", "emulator-5554", "push", str(paths[0]), f"{remote}/model0.tflite"],
        ["-s", "emulator-5554", "shell",
         f"'/data/local/tmp/lce benchmark' --graph={remote}/model0.tflite --num_threads=4 "
         "--warmup_runs=3 --num_runs=50 2>&1"],
        ["-s", "emulator-5554", "shell", f"rm -rf {remote}"],
    ]
    assert (store / paths[0].name).read_bytes() == paths[0].read_bytes()

    output.write_text("/system/bin/sh: lce_benchmark_model: not found\n")
    status, _, err = run_cli(capsys, "bench", paths[0], "--adb", "emulator-5554", "--lce-benchmark", "b")
    assert status == 1 and "no 'Inference timings in us' line" in err and "not found" in err
