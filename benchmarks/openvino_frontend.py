"""ResNet-18 BNN at 224x224 on OpenVINO: today's converter against the previous one, NNCF int8 and int8 float layers.

Today's `tfbin.convert.convert_openvino` rewrites the graph of OpenVINO's
TensorFlow frontend; until commit `--previous` (default 8f92ec5) tfbin built
the graph layer by layer itself. Both must run ResNet-18's binary
convolutions equally fast, and far faster than NNCF's int8 quantization of
the float baseline (`tfbin.convert.openvino_baselines`). The BNN with its
float layers in int8 (`float_layers="int8"`) is the fourth model. The `.xml`
files are timed with OpenVINO's own `benchmark_app` (installed next to
python), one thread, one stream, synchronous, batch 1, float layers in
`--precision` (f32, or bf16 where the CPU has it: benchmark_app's default
there), in interleaved rounds so that load from other processes hits all
alike; the table gives each model's median over rounds of benchmark_app's
median latency, and its fastest run, which that load disturbs least. A line
after it gives NNCF int8's time over the BNN's, round by round:

    python benchmarks/openvino_frontend.py --rounds 3 --seconds 5
    python benchmarks/openvino_frontend.py --rounds 3 --seconds 5 --precision bf16   # openvino_frontend_bf16.md

`--profile` adds where each model's time goes, from benchmark_app's
per-layer counters (`-pc`, one more run per model): the stem (the first
convolution), the binary convolutions, the other convolutions by the
precision they ran in, and the rest.
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from common import add_quick_flag, benchmark_app_command, benchmark_app_ms, cpu_flags, print_and_save

HERE = os.path.dirname(os.path.abspath(__file__))
# The last commit whose convert_openvino translated Keras layers one by one.
PREVIOUS = "8f92ec5"
BNN = "BNN, frontend + rewrite"
BNN_INT8 = "BNN + int8 float layers"


def previous_converter(commit):
    """The `openvino_converter` module as it was at `commit`, loaded from git under another name."""
    source = subprocess.run(["git", "-C", HERE, "show", f"{commit}:convert/openvino_converter.py"],
                            check=True, capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), "previous_openvino_converter.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("previous_openvino_converter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_models(directory, commit, samples, size):
    """{label: .xml path} of ResNet-18 BNN (today's and the previous converter) and its NNCF int8 baseline."""
    from tfbin import zoo
    from tfbin.convert import convert_openvino
    from tfbin.convert.openvino_baselines import openvino_baseline
    from tfbin.convert.openvino_runtime import openvino_predict, save_ir
    from tfbin.testing import realistic_weights

    x = np.random.default_rng(0).standard_normal((samples, size, size, 3)).astype(np.float32)
    model = realistic_weights(zoo.resnet18((size, size, 3), conv="bnn"), x, seed=0)
    paths = {label: os.path.join(directory, f"{name}.xml") for label, name in
             ((BNN, "frontend"), ("BNN, previous translator", "previous"), ("NNCF int8", "int8"),
              (BNN_INT8, "bnn_int8"))}
    today = convert_openvino(model, calibration_data=x)
    print(f"frontend: {today.census['BinaryConvolution']} BinaryConvolution, kernels {today.kernels}, "
          f"parity {today.parity.describe()}")
    today.save(paths[BNN])
    previous = previous_converter(commit).to_openvino(model)
    difference = np.abs(openvino_predict(previous, x) - openvino_predict(today.model, x)).max()
    print(f"previous: max |difference| to the frontend's outputs {difference:.3g}")
    save_ir(previous, paths["BNN, previous translator"])
    int8 = openvino_baseline("int8", model, x)
    int8.save(paths["NNCF int8"])
    # An untrained net on random inputs: agreement reported, not held.
    mixed = convert_openvino(model, calibration_data=x, float_layers="int8", min_agreement=0.0)
    print(f"{BNN_INT8}: {', '.join(mixed.int8_layers)} in int8, agreement {mixed.parity.argmax_agreement:.3f}")
    mixed.save(paths[BNN_INT8])
    return paths


def run_benchmark_app(tool, path, seconds, size, precision, *extra):
    """benchmark_app's output for `path`: one thread and stream, sync, batch 1, float layers in `precision`."""
    command = [*benchmark_app_command(tool, path, (size, size, 3), precision), "-t", str(seconds), *extra]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def benchmark_app_latency_ms(tool, path, seconds, size, precision):
    """(median, fastest) latency of `path` in one benchmark_app run."""
    output = run_benchmark_app(tool, path, seconds, size, precision)
    return benchmark_app_ms(output, "Median"), benchmark_app_ms(output, "Min")


_COUNTER = re.compile(r"^(\S+)\s+Status\.EXECUTED\s+layerType:\s+(\S+)\s+execType:\s+(\S+)\s+realTime \(ms\):\s+([\d.]+)")


def _convolution_precision(exec_type):
    """"int8", "bf16" or "f32" from an execType such as brgconv_avx512_I8 or brgconv_avx512_1x1_bf16."""
    suffix = exec_type.rsplit("_", 1)[-1].lower()
    return "int8" if suffix in ("i8", "u8") else suffix


def profile(tool, path, seconds, size, precision):
    """{part: (layers, ms)} of one benchmark_app run with per-layer counters: stem, binary, other convolutions, rest."""
    output = run_benchmark_app(tool, path, seconds, size, precision, "-pc")
    parts = {}
    # The counters come in execution order: the first convolution is the stem.
    for _, layer_type, exec_type, ms in (match.groups() for match in map(_COUNTER.match, output.splitlines())
                                            if match):
        if layer_type == "Convolution" and not any(part.startswith("stem") for part in parts):
            part = f"stem ({_convolution_precision(exec_type)})"
        elif layer_type == "BinaryConvolution":
            part = "binary convolutions"
        elif layer_type == "Convolution":
            part = f"other convolutions ({_convolution_precision(exec_type)})"
        else:
            part = "rest"
        layers, total = parts.get(part, (0, 0.0))
        parts[part] = (layers + 1, total + float(ms))
    if not parts:
        raise RuntimeError(f"benchmark_app -pc printed no per-layer counters for {path}")
    return parts


def profile_lines(profiles):
    """A table of the profiles: one row per model and part, with its share of the model's counted time."""
    lines = ["| model | part | layers | ms | share |", "|---|---|---:|---:|---:|"]
    for label, parts in profiles.items():
        total = sum(ms for _, ms in parts.values())
        for part, (layers, ms) in sorted(parts.items(), key=lambda item: -item[1][1]):
            lines.append(f"| {label} | {part} | {layers} | {ms:.2f} | {ms / total:.0%} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="benchmark_app's -t per model and round")
    parser.add_argument("--samples", type=int, default=8, help="calibration and parity samples")
    parser.add_argument("--previous", default=PREVIOUS, help="the last commit with the per-layer translator")
    parser.add_argument("--precision", choices=("f32", "bf16"), default="f32",
                        help="benchmark_app's -infer_precision for float layers (default f32)")
    parser.add_argument("--out", help="default results/openvino_frontend.md, openvino_frontend_bf16.md in bf16")
    parser.add_argument("--benchmark-app", default=os.path.join(os.path.dirname(sys.executable), "benchmark_app"),
                        help="OpenVINO's benchmark_app (default: beside python, where the openvino wheel puts it)")
    parser.add_argument("--profile", action="store_true",
                        help="add where each model's time goes, from benchmark_app's per-layer counters")
    add_quick_flag(parser, "ResNet-18 at 32x32 instead of 224x224, 1 round of 1 second, 2 samples", trains=False)
    args = parser.parse_args()
    suffix = "" if args.precision == "f32" else f"_{args.precision}"
    args.out = args.out or os.path.join(HERE, "results", f"openvino_frontend{suffix}.md")
    size = 32 if args.quick else 224
    if args.quick:
        args.rounds, args.seconds, args.samples = 1, 1, 2
    with tempfile.TemporaryDirectory() as directory:
        paths = build_models(directory, args.previous, args.samples, size)
        times = {label: [] for label in paths}
        fastest = {label: [] for label in paths}
        for _ in range(args.rounds):
            for label, path in paths.items():
                median, minimum = benchmark_app_latency_ms(args.benchmark_app, path, args.seconds, size, args.precision)
                times[label].append(median)
                fastest[label].append(minimum)
        profiles = {label: profile(args.benchmark_app, path, args.seconds, size, args.precision)
                    for label, path in paths.items()} if args.profile else {}
    medians = {label: float(np.median(values)) for label, values in times.items()}
    frontend = medians[BNN]
    per_round = np.divide(times["NNCF int8"], times[BNN])
    lines = [
        f"# ResNet-18 BNN at {size}x{size} on OpenVINO: frontend + rewrite vs the previous translator vs NNCF int8 "
        "vs int8 float layers",
        "",
        f"`python benchmarks/openvino_frontend.py {' '.join(sys.argv[1:])}`; "
        f"benchmark_app -nthreads 1 -nstreams 1 -hint none -api sync -b 1 -infer_precision {args.precision}, "
        f"-t {args.seconds} per model and round, rounds interleaved; CPU flags: {cpu_flags()}.",
        "",
        "| model | median ms | rounds (ms) | fastest run ms | x frontend |",
        "|---|---:|---|---:|---:|",
        *(f"| {label} | {medians[label]:.2f} | {', '.join(f'{t:.2f}' for t in times[label])} | "
          f"{min(fastest[label]):.2f} | {medians[label] / frontend:.2f} |" for label in paths),
        "",
        # Other processes' load slows some rounds more than others: the per-round ratios show how much.
        f"NNCF int8 / BNN (frontend + rewrite), float layers in {args.precision} for both: "
        f"{medians['NNCF int8'] / frontend:.2f} (medians); per round {', '.join(f'{r:.2f}' for r in per_round)}; "
        f"fastest runs {min(fastest['NNCF int8']) / min(fastest[BNN]):.2f}.",
    ]
    if profiles:
        lines += ["", "Where the time goes: benchmark_app -pc, one more run per model; the counters' sum is a "
                  "little below the latency.", "", *profile_lines(profiles)]
    print_and_save("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
