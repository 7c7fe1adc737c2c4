"""Every benchmark script's documented command runs as a user runs it, with `--quick`, into a temporary folder.

Each test starts `python benchmarks/X.py ...` from the repository root in a
fresh interpreter, so that the scripts' own imports (`common`, sibling
modules) and argument handling are what runs, and checks the exit status and
the rows and columns of the table it wrote.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_benchmark(script, *args, out_dir):
    """Runs benchmarks/`script` with `args`; returns its stdout once it succeeded, having written only in `out_dir`."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    written = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert written and all(pathlib.Path(path).resolve().is_relative_to(out_dir.resolve()) for path in written), written
    return result.stdout


def tables(markdown):
    """Every Markdown table of `markdown` as (header cells, [row cells, ...])."""
    lines = markdown.splitlines()
    found = []
    for index, line in enumerate(lines[:-1]):
        if line.startswith("|") and lines[index + 1].startswith("|---"):
            rows = []
            for row in lines[index + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip("|").split("|")])
            found.append(([cell.strip() for cell in line.strip("|").split("|")], rows))
    return found


def first_column(table):
    return [row[0] for row in table[1]]


def test_stq_default_command_runs_every_layout_and_method_and_the_digits_rows(tmp_path):
    # The default --archs once held zoo blocks that STQ-A refuses: this command stopped with a ValueError.
    run_benchmark("stq.py", "--quick", "--out", str(tmp_path), out_dir=tmp_path)
    resnet = (tmp_path / "stq_resnet18.md").read_text()
    header, rows = tables(resnet)[0]
    assert header[:2] == ["model", "PFR"] and "default ms (CPU)" in header and "indirect ms (CPU)" in header
    names = [row[0] for row in rows]
    for arch in ("bireal", "basic"):
        expected = [f"resnet18-{arch} BNN", f"resnet18-{arch} STQ-A 0.5", f"resnet18-{arch} STQ-B c=2"]
        assert [name for name in names if name in expected] == expected
    # STQ-B as grouped convolutions: a timed row, or a note that LCE could not keep it binary.
    assert "resnet18-bireal STQ-B c=2 grouped" in names or "STQ-B c=2 grouped: LCE kept" in resnet
    pfr = {row[0]: float(row[1]) for row in rows}
    assert pfr["resnet18-bireal BNN"] == 0.0 and 0.4 < pfr["resnet18-basic STQ-A 0.5"] < 0.6
    digits = tables((tmp_path / "stq_digits.md").read_text())[0]
    assert first_column(digits) == ["bnn", "stq_a", "stq_b"]
    assert all(0.0 <= float(row[3]) <= 1.0 for row in digits[1])


def test_bnew_comparison_command_trains_and_converts_every_method(tmp_path):
    out = tmp_path / "bnew.md"
    run_benchmark("bnew.py", "comparison", "--width", "8", "--pretrain-epochs", "8", "--epochs", "24",
                  "--seeds", "0", "1", "2", "--quick", "--out", str(out), out_dir=tmp_path)
    header, rows = tables(out.read_text())[0]
    assert header[0] == "method" and [row[0] for row in rows] == ["ste", "bmd", "bop", "bnew"]
    assert all(int(row[3]) > 0 and 0.0 <= float(row[4]) <= 1.0 for row in rows)  # LceBconv2d, agreement


def test_demo_seeds_command_tabulates_the_seed_and_the_mean(tmp_path):
    out = tmp_path / "demo_seeds.md"
    run_benchmark("demo_seeds.py", "--seeds", "0", "1", "2", "3", "4", "5", "--quick", "--out", str(out),
                  out_dir=tmp_path)
    assert first_column(tables(out.read_text())[0]) == ["0", "mean"]
    reports = json.loads((tmp_path / "demo_seeds.json").read_text())
    assert [row["name"] for row in reports[0]["models"]] == ["bnn", "pabt_3x3_to_1x1"]


def test_deploy_default_command_measures_every_variant_and_deeplab(tmp_path):
    out = tmp_path / "deploy.md"
    run_benchmark("deploy.py", "--quick", "--out", str(out), out_dir=tmp_path)
    text = out.read_text()
    variants, phases, deeplab = tables(text)
    assert variants[0][:2] == ["net", "variant"]
    assert [row[1] for row in variants[1]] == [
        "BNN", "BNN + int8 float layers", "BNN, binary classifier", "MBN 2/2", "MBN 2/2, per-pair export",
        "MBN 3/3", "MBN 3/3, per-pair export", "PaBT 3/3 -> 1/1", "float", "int8",
    ]
    assert {row[0] for row in variants[1]} == {"ResNet-20 @32"}
    assert all(float(row[8]) > 0 for row in variants[1])  # median ms
    assert len(phases[1]) == 8  # the LCE rows: every variant but float and int8
    assert [row[1] for row in deeplab[1]] == ["BNN", "MBN 2/2"]
    assert "CPU flags: avx2 " in text


def test_deploy_openvino_command_times_both_engines(tmp_path):
    out = tmp_path / "deploy_openvino.md"
    run_benchmark("deploy.py", "--openvino", "--passes", "3", "--quick", "--precision", "bf16", "--out", str(out),
                  out_dir=tmp_path)
    text = out.read_text()
    assert "(asked: bf16;" in text and "--precision bf16 --quick --out " in text
    header, rows = tables(text)[0]
    assert header[2:4] == ["LCE/TFLite (ms)", "OpenVINO (ms)"]
    assert [row[1] for row in rows] == ["BNN", "BNN + int8 float layers", "MBN 2/2", "MBN 3/3", "float", "int8"]
    assert "- ResNet-20 @32, OpenVINO: BNN + int8 / BNN = " in text
    assert "- ResNet-20 @32: OpenVINO BNN / fastest int8 = " in text
    assert "- ResNet-20 @32: new / old = " in text and "CPU flags: avx2 " in text


def test_pabt_digits_command_runs_every_row(tmp_path):
    out = tmp_path / "pabt.md"
    run_benchmark("pabt_digits.py", "--split", "test", "--widths", "8", "16", "--seeds", "0", "1", "2", "3", "4",
                  "--quick", "--out", str(out), out_dir=tmp_path)
    _, rows = tables(out.read_text())[0]
    assert [(row[0], row[1]) for row in rows] == [
        ("8", "bnn_1x1"), ("8", "pabt_old"), ("8", "pabt_new"), ("8", "mbn_3x3"),
    ]
    records = json.loads((tmp_path / "pabt.json").read_text())
    assert [r["max_drop"] is not None for r in records] == [False, True, True, False]


def test_pabt_recovery_command_continues_three_ways(tmp_path):
    out = tmp_path / "recovery.md"
    run_benchmark("pabt_recovery.py", "--seeds", "0", "3", "--quick", "--out", str(out), out_dir=tmp_path)
    header, rows = tables(out.read_text())[0]
    assert [row[1] for row in rows] == ["both", "no_flips", "no_adam"] and {row[0] for row in rows} == {"0"}
    assert len(header) > 4 and all(len(row) == len(header) for row in rows)  # at least one scored point


def test_pabt_smoothness_command_runs_each_setting(tmp_path):
    out = tmp_path / "smoothness.md"
    run_benchmark("pabt_smoothness.py", "--variants", "linear", "polynomial", "--seeds", "0", "1", "2", "3", "4", "5",
                  "--quick", "--out", str(out), out_dir=tmp_path)
    assert first_column(tables(out.read_text())[0]) == ["linear", "polynomial"]
    records = json.loads((tmp_path / "smoothness.json").read_text())
    assert all(len(r["curve"]) == r["epochs"] for r in records)


def test_snn_command_trains_every_row_and_writes_the_cost_table(tmp_path):
    run_benchmark("snn.py", "--image-size", "16", "--width", "16", "--epochs", "12", "--seeds", "0", "1", "2",
                  "--quick", "--out-dir", str(tmp_path), out_dir=tmp_path)
    header, rows = tables((tmp_path / "snn_accuracy_8_1ep.md").read_text())[0]
    assert first_column((header, rows)) == ["bnn", "irnet_bnn", "snn_tau5", "gradient_snn_tau5"]
    column = {name: header.index(name) for name in ("kernel bits off their member", "codebook changes (last seed)")}
    assert [row[column["kernel bits off their member"]] == "-" for row in rows] == [True, True, False, False]
    assert int(rows[2][column["codebook changes (last seed)"]]) > 0  # the centroid rule moved members
    assert "test accuracy mean ± std" in header  # scored on validation, test reported alongside
    costs = tables((tmp_path / "snn_costs.md").read_text())[0]
    assert len({row[0] for row in costs[1]}) == 3 and {row[1] for row in costs[1]} == {"9", "5"}
    assert not (tmp_path / "snn_sizes.md").exists()


def test_train_step_command_times_every_model_and_the_ratios(tmp_path):
    out = tmp_path / "train_step.md"
    run_benchmark("train_step.py", "--quick", "--out", str(out), out_dir=tmp_path)
    models, ratios = tables(out.read_text())
    assert first_column(models) == ["larq BNN", "MBN 1/1", "MBN 2/2", "MBN 3/3"]
    assert first_column(ratios) == ["MBN 1/1 / larq BNN", "MBN 3/3 / MBN 1/1"]


def test_train_defaults_command_compares_the_old_and_new_defaults_and_the_demo_row(tmp_path):
    out = tmp_path / "train_defaults.md"
    run_benchmark("train_defaults.py", "--quick", "--out", str(out), out_dir=tmp_path)
    header, rows = tables(out.read_text())[0]
    assert header[:4] == ["size", "width", "epochs", "row"]
    # The default command's rows at both default image sizes.
    assert sorted((row[0], row[3]) for row in rows) == sorted(
        (size, row) for size in ("8", "16") for row in ("old", "new", "bop_row"))
    assert all(len(row) == len(header) for row in rows)


def test_openvino_frontend_command_times_both_converters_and_int8(tmp_path):
    out = tmp_path / "openvino_frontend.md"
    run_benchmark("openvino_frontend.py", "--rounds", "3", "--seconds", "5", "--quick", "--profile", "--out", str(out),
                  out_dir=tmp_path)
    text = out.read_text()
    timing, profile = tables(text)
    header, rows = timing
    assert header == ["model", "median ms", "rounds (ms)", "fastest run ms", "x frontend"]
    models = ["BNN, frontend + rewrite", "BNN, previous translator", "NNCF int8", "BNN + int8 float layers"]
    assert first_column((header, rows)) == models
    assert all(0 < float(row[3]) <= float(row[1]) for row in rows)
    # int8 against the BNN at the same precision, from the medians and from each round (one with --quick).
    ratio, per_round = re.search(r"NNCF int8 / BNN \(frontend \+ rewrite\), float layers in f32 for both: "
                                 r"([\d.]+) \(medians\); per round ([\d.]+);", text).groups()
    assert ratio == rows[2][4] == per_round
    # Where the time goes: every model's parts, the float stem of the BNN and int8 ones elsewhere.
    header, rows = profile
    assert header == ["model", "part", "layers", "ms", "share"]
    parts = {(row[0], row[1]): int(row[2]) for row in rows}
    assert {row[0] for row in rows} == set(models)
    assert parts[(models[0], "stem (f32)")] == 1 and parts[(models[0], "binary convolutions")] == 16
    assert parts[(models[2], "stem (int8)")] == 1 and (models[2], "binary convolutions") not in parts
    assert parts[(models[3], "stem (int8)")] == 1 and parts[(models[3], "binary convolutions")] == 16


def test_openvino_bench_command_compares_tfbin_bench_with_benchmark_app(tmp_path):
    out = tmp_path / "openvino_bench.md"
    run_benchmark("openvino_bench.py", "--rounds", "3", "--runs", "200", "--quick", "--out", str(out), out_dir=tmp_path)
    text = out.read_text()
    header, rows = tables(text)[0]
    assert header[:6] == ["net", "precision", "batch", "threads", "tfbin bench (ms)", "benchmark_app (ms)"]
    assert [(row[0], row[1], row[2], row[3]) for row in rows] == [("ResNet-20 @32", "f32", "1", "1"),
                                                                  ("ResNet-20 @32", "f32", "2", "1")]
    assert all(float(row[4]) > 0 and float(row[5]) > 0 for row in rows)
    assert all(float(row[8]) > 0 for row in rows)  # minimum ratio
    # Both compiled the model with the same properties (every one benchmark_app prints).
    assert all(row[9].startswith("same (") for row in rows), [row[9] for row in rows]
    assert "CPU flags: avx2 " in text
