"""`tfbin.training.train`'s default Bop + Adam settings against the old ones and the BNEW demo's Bop row, on digits.

Every run trains the digits residual net (`tfbin.zoo.digits_resnet`, binary
weights and activations, `conv="bnn"`) with `tfbin.training.train`, BatchNorm
statistics re-estimated as `train` does by default, and reports the accuracy
on the evaluation split. Rows:

- old:     the defaults `train` had before: Adam eta 1e-3, Bop gamma 1e-3 and
           threshold 1e-7, all constant;
- new:     `training.train(model, data, epochs)` with nothing else: the defaults now;
- bop_row: the BNEW demo's `bop` row (`tfbin.demo.bnew.optimizer("bop", ...)`),
           which reads the same defaults as `train` now (before: eta 1e-2,
           gamma 1e-3, threshold 1e-7, decaying to 1%);
- ste_row: the BNEW demo's `ste` row: Adam on latent weights, straight-through;
- cand:NAME: a setting of CANDIDATES (those tried to choose the defaults).

`--split validation` holds out a stratified quarter of the training split and
evaluates on it: settings are chosen there. The same models are also scored
on the test split, shown only with `--report-test`: once, for the chosen
settings. `--split test` trains on the whole training split and evaluates on
the test split.
`--data dataset` feeds `train` a batched `tfbin.data.Dataset` instead of
`tfbin.data.Arrays` (same batch size and steps).

Screening (seeds 0 and 1), then the finalists over sizes, widths and run
lengths with three seeds, and the literal `new` and `bop_row` rows:

    python benchmarks/train_defaults.py --sizes 8 --widths 16 --epochs 12 --seeds 0 1 \\
        --rows old cand:old+decay cand:eta1e-2 cand:eta1e-2+decay cand:old+tau1e-5 cand:old+tau1e-9 \\
        cand:old+batch16 cand:old+gamma1e-4
    python benchmarks/train_defaults.py --sizes 16 --widths 16 --epochs 12 --seeds 0 1 \\
        --rows old cand:old+decay cand:eta1e-2 cand:eta1e-2+decay cand:eta3e-3+decay cand:eta3e-2+decay
    python benchmarks/train_defaults.py --report-test --sizes 16 --widths 16 --epochs 12 \\
        --rows old cand:eta1e-2+decay cand:eta3e-3+decay ste_row
    python benchmarks/train_defaults.py --report-test --sizes 8 --widths 8 32 --epochs 6 24 \\
        --rows old cand:eta1e-2+decay cand:eta3e-3+decay
    python benchmarks/train_defaults.py --report-test --sizes 16 --widths 8 --epochs 6 24 \\
        --rows old cand:eta1e-2+decay cand:eta3e-3+decay
    python benchmarks/train_defaults.py --report-test --sizes 16 --widths 16 --epochs 12 --rows new bop_row
    python benchmarks/train_defaults.py --table-from RUNS.json ... --report-test --out results/train_defaults.md

The table is printed and written to --out; every run's record (settings,
accuracy, evaluation curve, seconds, command) goes to --runs as JSON.
"""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import add_quick_flag, cpu_flags, digits_splits, print_and_save, save_progress, start_quick
import tensorflow as tf  # noqa: E402

from tfbin import data, optimizers, training, zoo  # noqa: E402
from tfbin.demo import bnew as bnew_demo  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BATCH_SIZE = 64

# Bop + Adam settings tried on the validation split: Adam's eta, Bop's gamma
# and threshold, the fraction of their initial values eta and gamma decay to
# linearly over the run (None: constant) and the batch size.
OLD = dict(learning_rate=1e-3, gamma=1e-3, threshold=1e-7, final_fraction=None, batch_size=BATCH_SIZE)
DECAYED = {**OLD, "final_fraction": 0.01}
CANDIDATES = {
    "old": OLD,
    "old+decay": DECAYED,
    "old+tau1e-5": {**OLD, "threshold": 1e-5},
    "old+tau1e-9": {**OLD, "threshold": 1e-9},
    "old+batch16": {**OLD, "batch_size": 16},
    "old+gamma1e-4": {**OLD, "gamma": 1e-4},
    "eta1e-2": {**OLD, "learning_rate": 1e-2},
    "eta1e-2+decay": {**DECAYED, "learning_rate": 1e-2},
    "eta3e-3+decay": {**DECAYED, "learning_rate": 3e-3},
    "eta3e-2+decay": {**DECAYED, "learning_rate": 3e-2},
}
ROWS = ("old", "new", "bop_row", "ste_row")
DEMO_ROWS = {"bop_row": "bop", "ste_row": "ste"}


def as_dataset(arrays, batch_size, seed):
    """`arrays` as a `Dataset` of the same batches per epoch, reshuffled every epoch (as `tfbin.data` builds them)."""
    train = tf.data.Dataset.from_tensor_slices((arrays.x_train, arrays.y_train))
    test = tf.data.Dataset.from_tensor_slices((arrays.x_test, arrays.y_test))
    return data.Dataset(
        train=train.shuffle(len(arrays.x_train), seed=seed, reshuffle_each_iteration=True).batch(batch_size),
        test=test.batch(batch_size), num_classes=arrays.num_classes, input_shape=arrays.x_train.shape[1:],
        train_size=len(arrays.x_train), test_size=len(arrays.x_test),
    )


def settings_of(row):
    """The candidate settings of `row`, or None for the rows that take theirs from the library."""
    if row.startswith("cand:"):
        return CANDIDATES[row.split(":", 1)[1]]
    return OLD if row == "old" else None


def candidate_optimizer(settings, steps_per_epoch, epochs):
    final = settings["final_fraction"]
    eta, gamma = settings["learning_rate"], settings["gamma"]
    return optimizers.bop_optimizer(
        eta, gamma, settings["threshold"], schedule_kind="constant" if final is None else "linear",
        steps_per_epoch=steps_per_epoch, epochs=epochs,
        final_learning_rate=None if final is None else eta * final,
        final_gamma=None if final is None else gamma * final,
    )


def run(row, size, width, epochs, split, seed, feed, quick):
    arrays, test = digits_splits(size, split, quick)
    settings = settings_of(row)
    batch_size = settings["batch_size"] if settings else BATCH_SIZE
    dataset = as_dataset(arrays, batch_size, seed) if feed == "dataset" else arrays
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(arrays.x_train.shape[1:], arrays.num_classes, width=width, conv="bnn")
    steps = training.steps_per_epoch(dataset, batch_size)
    if row == "new":
        history = training.train(model, dataset, epochs, verbose=0)
    else:
        optimizer = (bnew_demo.optimizer(DEMO_ROWS[row], steps, epochs) if row in DEMO_ROWS
                     else candidate_optimizer(settings, steps, epochs))
        history = training.train(model, dataset, epochs, optimizer=optimizer, batch_size=batch_size, verbose=0)
    # `train` re-estimated the statistics after the last step: the last validation is the final model's.
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    _, test_accuracy = model.evaluate(test.x_test, test.y_test, verbose=0)
    return {
        "accuracy": float(accuracy),
        "test_accuracy": float(test_accuracy),
        "val_curve": [round(float(v), 4) for v in history.history["val_accuracy"]],
        "steps_per_epoch": steps,
    }


def stats(values):
    return float(np.mean(values)), float(np.std(values))


def table(records, args):
    lines = [
        f"digits (`tfbin.data.digits_arrays`), split `{args.split}`"
        + (" (a stratified quarter of the training split held out)" if args.split == "validation" else "")
        + f", digits_resnet (conv bnn), fed as {args.data}, statistics re-estimated (`train`'s default), "
        f"{args.threads} TensorFlow thread(s), CPU: {cpu_flags()}; accuracy mean ± std over seeds",
        "",
        f"| size | width | epochs | row | {args.split} accuracy mean ± std | min | per seed | last-3-epoch spread "
        "| seconds |"
        + (" test accuracy mean ± std |" if args.report_test else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if args.report_test else ""),
    ]
    for (size, width, epochs, row), group in records.items():
        mean, std = stats([r["accuracy"] for r in group])
        per_seed = ", ".join(f"{r['accuracy']:.3f}" for r in group)
        # How far the evaluation accuracy moved over the last epochs: a steady run ends where it was.
        spread = stats([max(r["val_curve"][-3:]) - min(r["val_curve"][-3:]) for r in group])[0]
        seconds = stats([r["seconds"] for r in group])[0]
        lines.append(f"| {size} | {width} | {epochs} | {row} | {mean:.4f} ± {std:.4f} | "
                     f"{min(r['accuracy'] for r in group):.3f} | {per_seed} | {spread:.3f} | {seconds:.0f} |"
                     + (" {:.4f} ± {:.4f} |".format(*stats([r["test_accuracy"] for r in group]))
                        if args.report_test else ""))
    return "\n".join(lines) + "\n"


def table_from(args):
    """The table of saved records (several files merged), with the commands that made them."""
    records, commands = {}, []
    for path in args.table_from:
        with open(path) as f:
            for record in json.load(f):
                records.setdefault((record["size"], record["width"], record["epochs"], record["row"]), []).append(record)
                if record["command"] not in commands:
                    commands.append(record["command"])
    first = next(iter(records.values()))[0]
    args.split, args.data, args.threads = first["split"], first["data"], first["threads"]
    records = dict(sorted(records.items(), key=lambda item: item[0][:3]))
    out = args.out or os.path.join(RESULTS, f"train_defaults_{args.split}.md")
    print_and_save(table(records, args) + "\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n", out)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], help="digits image sizes")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--epochs", type=int, nargs="+", default=[6, 24], help="run lengths")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=["old", "new", "bop_row"],
                        help=f"{', '.join(ROWS)} or cand:NAME with NAME in {', '.join(CANDIDATES)}")
    parser.add_argument("--data", choices=("arrays", "dataset"), default="arrays",
                        help="feed `train` Arrays or a batched Dataset")
    parser.add_argument("--report-test", action="store_true",
                        help="with --split validation, also show the test accuracy of the same models")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow intra- and inter-op threads")
    parser.add_argument("--out", default=None, help="the table (default results/train_defaults_<split>.md)")
    parser.add_argument("--runs", default=None, help="the records as JSON (default: --out with .json)")
    parser.add_argument("--table-from", nargs="+", default=None, metavar="RUNS_JSON",
                        help="train nothing: print and save (--out) the table of these saved records")
    add_quick_flag(parser, "the first digits of each split, one width, one seed and a 1-epoch run")
    args = parser.parse_args(argv)
    if args.table_from:
        return table_from(args)
    for row in args.rows:
        if row not in ROWS and not (row.startswith("cand:") and row.split(":", 1)[1] in CANDIDATES):
            parser.error(f"--rows: unknown row {row!r}")
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    start_quick(args)
    if args.quick:
        args.widths, args.epochs, args.seeds = args.widths[:1], [1], args.seeds[:1]
    command = "python benchmarks/train_defaults.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out = args.out or os.path.join(RESULTS, f"train_defaults_{args.split}{'_quick' if args.quick else ''}.md")
    runs = args.runs or os.path.splitext(out)[0] + ".json"
    records, flat = {}, []
    total = len(args.seeds) * len(args.sizes) * len(args.widths) * len(args.epochs) * len(args.rows)

    def report():
        return table(records, args) + f"\nCommand: `{command}`\n"

    # Seeds outermost, so that an interrupted run leaves every row with as many seeds as it got to.
    for seed in args.seeds:
        for size in args.sizes:
            for width in args.widths:
                for epochs in args.epochs:
                    for row in args.rows:
                        start = time.perf_counter()
                        record = run(row, size, width, epochs, args.split, seed, args.data, args.quick)
                        record.update(size=size, width=width, epochs=epochs, row=row, seed=seed, split=args.split,
                                      data=args.data, threads=args.threads, settings=settings_of(row),
                                      seconds=round(time.perf_counter() - start, 1), command=command)
                        records.setdefault((size, width, epochs, row), []).append(record)
                        flat.append(record)
                        print(f"{size}x{size} width {width} {epochs} epochs {row:<28} seed {seed}: "
                              f"accuracy {record['accuracy']:.4f} curve {record['val_curve'][-4:]} "
                              f"({record['seconds']} s)", flush=True)
                        save_progress(flat, total, runs, out, report)
    print_and_save(report(), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
