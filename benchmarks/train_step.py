"""Milliseconds per training step: larq BNN against multi-base (MBN) ResNet-20s.

Builds `tfbin.zoo.resnet20` (32x32x3 input, 10 classes) as a larq BNN and as
MBN 1/1, 2/2 and 3/3, compiles each with Bop + Adam (`bop_optimizer`), warms
each up, then times `train_on_batch` at batch 64 round-robin over the models,
one step each per round by default, so that bursts of load from other
processes hit all of them alike. Reports wall-clock and CPU ms per
step and the ratios the MBN layer is held to:

- MBN 1/1 / BNN: the cost of the multi-base machinery at one base (target <= 1.1).
- MBN 3/3 / MBN 1/1: nine binary convolutions against one (target <= 9).

    python benchmarks/train_step.py                 # prints and writes results/train_step.md
    python benchmarks/train_step.py --rounds 10 --threads 1
    python benchmarks/train_step.py --quick --out /tmp/train_step.md    # a smoke run (see --help)
"""
import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfbin  # noqa: E402  (routes tf.keras to Keras 2 before TensorFlow loads)
import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from common import add_quick_flag, print_and_save, start_quick  # noqa: E402
from tfbin import zoo  # noqa: E402
from tfbin.optimizers import bop_optimizer  # noqa: E402

CONFIGS = [
    ("larq BNN", dict(conv="bnn")),
    ("MBN 1/1", dict(conv="mbn", weight_bases=1, activation_bases=1)),
    ("MBN 2/2", dict(conv="mbn", weight_bases=2, activation_bases=2)),
    ("MBN 3/3", dict(conv="mbn", weight_bases=3, activation_bases=3)),
]
KEYS = ("mean", "median", "cpu")  # the statistics compared between models
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_step.md")


def build(config, seed):
    tf.keras.utils.set_random_seed(seed)
    model = zoo.resnet20(**config)
    model.compile(
        bop_optimizer(learning_rate=1e-3, gamma=1e-3, threshold=1e-7),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def time_steps(model, x, y, steps):
    """Wall-clock and process CPU ms of each of `steps` training steps.

    `train_on_batch` returns the loss as a number, so each step has finished
    when it returns. CPU time (all threads of this process) is reported too:
    on a shared machine it moves far less with other processes' load.
    """
    wall, cpu = [], []
    for _ in range(steps):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        model.train_on_batch(x, y)
        wall.append((time.perf_counter() - start_wall) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return wall, cpu


def measure(batch=64, warmup=3, rounds=30, steps=1, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, 32, 32, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, batch))
    models = {name: build(config, seed) for name, config in CONFIGS}
    for model in models.values():
        time_steps(model, x, y, warmup)  # traces the train function, creates slots
    times = {name: ([], []) for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            wall, cpu = time_steps(model, x, y, steps)
            times[name][0].extend(wall)
            times[name][1].extend(cpu)
    return times


def summarize(times):
    rows = []
    for name, (wall, cpu) in times.items():
        q1, median, q3 = np.percentile(wall, [25, 50, 75])
        rows.append(
            dict(name=name, mean=np.mean(wall), median=median, q1=q1, q3=q3, cpu=np.median(cpu), n=len(wall))
        )
    by_name = {row["name"]: row for row in rows}
    ratios = {}
    for (a, b), target in [(("MBN 1/1", "larq BNN"), 1.1), (("MBN 3/3", "MBN 1/1"), 9.0)]:
        ratios[f"{a} / {b}"] = (
            {key: by_name[a][key] / by_name[b][key] for key in KEYS}, target
        )
    return rows, ratios


def markdown(rows, ratios, args):
    lines = [
        "# Training step time, ResNet-20 (CIFAR shape)",
        "",
        f"`python benchmarks/train_step.py --batch {args.batch} --warmup {args.warmup} "
        f"--rounds {args.rounds} --steps {args.steps}{' --quick' if args.quick else ''}`, "
        f"{datetime.date.today().isoformat()}.",
        "",
        f"Batch {args.batch}, 32x32x3 input, width 16, Bop + Adam (`tfbin.optimizers.bop_optimizer`), "
        "`train_on_batch` after warm-up, models timed round-robin; statistics over all timed steps.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, larq {lq.__version__}, "
        f"threads (intra/inter-op) {args.threads or 'TensorFlow default'}.",
        "",
        "Wall time is what a user waits; CPU time (all threads of the process) does not count time "
        "the process spends descheduled, so it moves far less with other load or a CPU quota.",
        "",
        "| model | wall ms / step, mean | wall, median | wall IQR | CPU ms / step, median | steps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['mean']:.1f} | {row['median']:.1f} | {row['q1']:.1f}-{row['q3']:.1f} "
            f"| {row['cpu']:.1f} | {row['n']} |"
        )
    lines += [
        "",
        "| ratio | wall, mean | wall, median | CPU, median | target |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (values, target) in ratios.items():
        cells = " | ".join(
            f"{values[key]:.2f} {'met' if values[key] <= target else 'missed'}" for key in KEYS
        )
        lines.append(f"| {name} | {cells} | <= {target:g} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model (default 3)")
    parser.add_argument("--rounds", type=int, default=30, help="round-robin passes (default 30)")
    parser.add_argument("--steps", type=int, default=1, help="timed steps per model and round (default 1)")
    parser.add_argument("--threads", type=int, help="TensorFlow intra- and inter-op threads (default: TensorFlow's)")
    parser.add_argument("--out", default=RESULTS, help="Markdown file to write (default results/train_step.md)")
    add_quick_flag(parser, "batch 8, 1 warm-up step and 1 round")
    args = parser.parse_args(argv)
    start_quick(args)
    if args.quick:
        args.batch, args.warmup, args.rounds, args.steps = 8, 1, 1, 1
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    times = measure(args.batch, args.warmup, args.rounds, args.steps)
    rows, ratios = summarize(times)
    report = markdown(rows, ratios, args)
    if args.out:
        print_and_save(report, args.out)
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
