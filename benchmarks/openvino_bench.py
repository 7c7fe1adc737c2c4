"""`tfbin bench --engine openvino` against OpenVINO's own benchmark_app: same model, precision, batch and threads.

ResNet-18 BNN at 224x224 and ResNet-20 BNN at 32x32 (`tfbin.zoo`, trained-like
BatchNorm) are converted with `tfbin.convert.convert_openvino` and written as
`.xml`. Each is timed at several settings (precision of float layers, batch,
threads) two ways, in interleaved rounds so that load from other processes
hits both alike:

- tfbin: `tfbin.convert.bench.time_file(..., engine="openvino")`, what
  `tfbin bench --engine openvino` runs for each file (a child process running
  `tfbin.convert.runner`);
- OpenVINO: `benchmark_app -d CPU -nthreads T -nstreams 1 -hint none -api sync
  -b B -shape [B,...] -infer_precision P -niter N` (installed next to python
  by the openvino wheel), with as many timed runs as tfbin.

The table gives each tool's median over rounds of its median latency (of the
whole batch), the ratio per round, whether the two agree within 10%, and
whether the CPU plugin compiled the model with the same properties for both
(every property benchmark_app prints, read back from tfbin's compiled model):

    python benchmarks/openvino_bench.py --rounds 3 --runs 200
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import add_quick_flag, benchmark_app_command, benchmark_app_ms, cpu_flags, print_and_save

HERE = os.path.dirname(os.path.abspath(__file__))
NETS = {"ResNet-18 @224": ("resnet18", 224), "ResNet-20 @32": ("resnet20", 32)}
# (precision, batch, threads): the batch-1 one-thread float32 latency, then one setting changed at a time.
SETTINGS = (("f32", 1, 1), ("bf16", 1, 1), ("f32", 8, 1), ("f32", 1, 2))
TOLERANCE = 0.10


def build_model(net, directory, samples):
    """Converts `net`'s BNN with `convert_openvino` and writes it; returns (its .xml path, input shape)."""
    import tensorflow as tf

    from tfbin import zoo
    from tfbin.convert import convert_openvino
    from tfbin.testing import realistic_weights

    tf.keras.utils.set_random_seed(0)
    builder, size = NETS[net]
    shape = (size, size, 3)
    x = np.random.default_rng(0).standard_normal((samples, *shape)).astype(np.float32)
    model = realistic_weights(getattr(zoo, builder)(shape, conv="bnn"), x, seed=0)
    result = convert_openvino(model, calibration_data=x)
    print(f"{net}: {result.census['BinaryConvolution']} BinaryConvolution, kernels {result.kernels}, "
          f"parity {result.parity.describe()}", flush=True)
    path = os.path.join(directory, f"{builder}.xml")
    result.save(path)
    return path, shape


def run_benchmark_app(command):
    """(median latency in ms, minimum in ms, {property: value as printed}) of one benchmark_app run."""
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    step = re.search(r"\[Step 8/11\][^\n]*\n(.*?)\[Step 9/11\]", output, re.DOTALL).group(1)
    properties = dict(re.findall(r"^\[ INFO \]\s{3}(\w+): (.*)$", step, re.MULTILINE))
    return benchmark_app_ms(output, "Median"), benchmark_app_ms(output, "Min"), properties


def tfbin_properties(path, precision, batch, threads):
    """{property: value as benchmark_app prints it} of the model as `tfbin bench` compiles it."""
    from tfbin.convert.runner import compile_for_batch

    compiled = compile_for_batch(path, batch, threads, precision)
    return {key: str(compiled.get_property(key)) for key in compiled.get_property("SUPPORTED_PROPERTIES")
            if key != "SUPPORTED_PROPERTIES"}


def compare_properties(theirs, ours):
    """"same (N)" when every property benchmark_app printed has the same value in tfbin's compiled model."""
    differ = [f"{key} {value} vs {ours.get(key)}" for key, value in theirs.items() if ours.get(key) != value]
    return f"differ: {'; '.join(differ)}" if differ else f"same ({len(theirs)})"


def measure(path, shape, setting, args):
    """{"tfbin": [median ms per round], "benchmark_app": [...], "tfbin_min": [minimum ms per round],
    "benchmark_app_min": [...], "properties": ...} at one (precision, batch, threads)."""
    from tfbin.convert.bench import time_file

    precision, batch, threads = setting
    command = [*benchmark_app_command(args.benchmark_app, path, shape, precision, batch, threads),
               "-niter", str(args.runs)]
    times = {"tfbin": [], "benchmark_app": [], "tfbin_min": [], "benchmark_app_min": []}
    properties = None
    for _ in range(args.rounds):
        latency = time_file(path, threads, args.warmup, args.runs, engine="openvino", batch=batch,
                            precision=precision)
        times["tfbin"].append(latency.median_ms)
        times["tfbin_min"].append(latency.min_ms)
        median, minimum, printed = run_benchmark_app(command)
        times["benchmark_app"].append(median)
        times["benchmark_app_min"].append(minimum)
        properties = properties or compare_properties(printed, tfbin_properties(path, precision, batch, threads))
    return {**times, "properties": properties}


def markdown(rows, args):
    lines = [
        "# `tfbin bench --engine openvino` against OpenVINO's benchmark_app",
        "",
        f"`python benchmarks/openvino_bench.py {' '.join(sys.argv[1:])}` on {platform.machine()} "
        f"({os.cpu_count()} cores; CPU flags: {cpu_flags()}); load average {os.getloadavg()[0]:.1f} at the end "
        "(other processes share the machine: compare within a row). "
        f"{args.rounds} interleaved round(s) per row, {args.runs} timed runs per tool and round "
        f"(tfbin after {args.warmup} warm-up runs, benchmark_app after its one). benchmark_app: "
        "`-nthreads T -nstreams 1 -hint none -api sync -b B -shape [B,...] -infer_precision P -niter N`. "
        "Latency is that of the whole batch: each tool's median over rounds of its median; the minimum "
        "column compares the fastest run of all rounds, which other processes' load disturbs least.",
        "",
        "| net | precision | batch | threads | tfbin bench (ms) | benchmark_app (ms) | tfbin / benchmark_app "
        "(rounds) | within 10% | minimum: tfbin / benchmark_app | compiled properties |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---|",
    ]
    for row in rows:
        ratios = np.divide(row["tfbin"], row["benchmark_app"])
        ratio = float(np.median(row["tfbin"]) / np.median(row["benchmark_app"]))
        lines.append(
            f"| {row['net']} | {row['precision']} | {row['batch']} | {row['threads']} "
            f"| {np.median(row['tfbin']):.3f} | {np.median(row['benchmark_app']):.3f} "
            f"| {ratio:.3f} ({', '.join(f'{r:.2f}' for r in ratios)}) "
            f"| {'yes' if abs(ratio - 1) <= TOLERANCE else 'no'} "
            f"| {min(row['tfbin_min']) / min(row['benchmark_app_min']):.3f} | {row['properties']} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per tool, setting and round")
    parser.add_argument("--warmup", type=int, default=3, help="tfbin's warm-up runs")
    parser.add_argument("--samples", type=int, default=4, help="calibration and parity samples")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "openvino_bench.md"))
    parser.add_argument("--benchmark-app", default=os.path.join(os.path.dirname(sys.executable), "benchmark_app"),
                        help="OpenVINO's benchmark_app (default: beside python, where the openvino wheel puts it)")
    add_quick_flag(parser, "ResNet-20 @32 only, float32 at batch 1 and 2, 1 round of 20 runs, 2 samples",
                   trains=False)
    args = parser.parse_args()
    if min(args.rounds, args.runs) < 1 or args.samples < 2 or args.warmup < 0:
        parser.error("--rounds and --runs must be >= 1, --samples >= 2 and --warmup >= 0")
    settings = SETTINGS
    if args.quick:
        args.nets, args.rounds, args.runs, args.samples = ["ResNet-20 @32"], 1, 20, 2
        settings = (("f32", 1, 1), ("f32", 2, 1))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for net in args.nets:
            path, shape = build_model(net, directory, args.samples)
            for setting in settings:
                row = {"net": net, **dict(zip(("precision", "batch", "threads"), setting)),
                       **measure(path, shape, setting, args)}
                print(f"{net} {setting}: tfbin {row['tfbin']} ms, benchmark_app {row['benchmark_app']} ms, "
                      f"properties {row['properties']}", flush=True)
                rows.append(row)
    print_and_save(markdown(rows, args), args.out)


if __name__ == "__main__":
    main()
