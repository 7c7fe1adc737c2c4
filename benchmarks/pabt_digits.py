"""PaBT against directly trained BNNs and the unpruned MBN 3/3 on digits, over seeds.

Every row trains `tfbin.zoo.digits_resnet` for the same total number of epochs
(`--epochs`) with Bop + Adam and linear eta/phi decay; a row with float
initialisation (`+float`) spends `--float-epochs` of them training the float
twin (`tfbin.transfer.pretrain_float`) and the rest training the binary net.

Rows:

- bnn_1x1:   MultiBaseConv2D M = N = 1 trained directly: the architecture PaBT ends in;
- mbn_3x3:   MultiBaseConv2D 3/3, not pruned (9x the bit-OPs);
- pabt_old:  3/3 pruned to 1/1 by PruneToBinary as the benchmark ran it before
             BatchNorm re-estimation existed (linear, every step, t_start/t_end at
             1/6 and 2/3 of the run, statistics left to Keras);
- pabt_new:  3/3 pruned to 1/1 with PruneToBinary's defaults (`tfbin.demo.pabt.prune_callback`):
             10% to 40% of the run, polynomial schedule, every step, statistics
             re-estimated (the linear schedule before is `pabt:phase_0.1_0.4`);
- pabt:NAME: a variant of VARIANTS (the settings tried to choose the defaults).

Each row reports accuracy twice: with the moving statistics Keras left
("keras") and after `tfbin.batchnorm.reestimate_statistics` on training data
("re-est."); PruneToBinary with statistics data re-estimates by itself, so its
two columns agree. PaBT rows also report `pabt_max_drop`, the largest fall of
the evaluation accuracy during pruning below its value before pruning.

`--split validation` holds out a stratified quarter of the training split and
evaluates on it: settings are chosen there. `--split test` trains on the whole
training split and evaluates on the test split, once, with the chosen settings.

    python benchmarks/pabt_digits.py --split test --widths 8 16 --seeds 0 1 2 3 4
    python benchmarks/pabt_digits.py --split validation --widths 8 --rows pabt:fade20 pabt:global

`--quick` makes a training command a smoke run (see `--help`).

The table is printed and written to --out; every run's record (settings,
accuracies, evaluation curve, command) goes to --runs as JSON.
"""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import (QUICK_DIGITS, add_quick_flag, digits_splits, print_and_save, prune_options, save_progress,
                    start_quick)
import tensorflow as tf  # noqa: E402

from tfbin import batchnorm, callbacks, cost, training, transfer, zoo
from tfbin.demo import pabt as pabt_demo

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# PruneToBinary settings tried on the validation split. Each names the
# callback's keyword arguments (with statistics data unless "statistics":
# False) and the pruning phase as fractions of the binary training epochs.
OLD = dict(start=1 / 6, end=2 / 3, schedule="linear", frequency="step", update_every=1, statistics=False)
VARIANTS = {
    "old": OLD,
    "old+bn": {**OLD, "statistics": True},
    "fade20": {**OLD, "statistics": True, "fade_steps": 20},
    "fade60": {**OLD, "statistics": True, "fade_steps": 60},
    "activations_first": {**OLD, "statistics": True, "order": "activations_first"},
    "weights_first": {**OLD, "statistics": True, "order": "weights_first"},
    "global": {**OLD, "statistics": True, "budget": "global"},
    "window20": {**OLD, "statistics": True, "importance_window": 20},
    "window100": {**OLD, "statistics": True, "importance_window": 100},
    "epochwise": {**OLD, "statistics": True, "frequency": "epoch"},
    "polynomial": {**OLD, "statistics": True, "schedule": "polynomial"},
    "phase_0.05_0.3": {**OLD, "statistics": True, "start": 0.05, "end": 0.3},
    "phase_0.1_0.3": {**OLD, "statistics": True, "start": 0.1, "end": 0.3},
    "phase_0.1_0.4": {**OLD, "statistics": True, "start": 0.1, "end": 0.4},
    "phase_0.1_0.5": {**OLD, "statistics": True, "start": 0.1, "end": 0.5},
    "phase_0.15_0.6": {**OLD, "statistics": True, "start": 0.15, "end": 0.6},
    "phase_0.2_0.8": {**OLD, "statistics": True, "start": 0.2, "end": 0.8},
    "phase_0.3_0.9": {**OLD, "statistics": True, "start": 0.3, "end": 0.9},
}
# The same factors again over the pruning phase that won above.
EARLY = {**OLD, "statistics": True, "start": 0.1, "end": 0.4}
VARIANTS.update({
    "early+fade20": {**EARLY, "fade_steps": 20},
    "early+global": {**EARLY, "budget": "global"},
    "early+activations_first": {**EARLY, "order": "activations_first"},
    "early+weights_first": {**EARLY, "order": "weights_first"},
    "early+epochwise": {**EARLY, "frequency": "epoch"},
    "early+window20": {**EARLY, "importance_window": 20},
    "early+polynomial": {**EARLY, "schedule": "polynomial"},
})
DIRECT = {"bnn_1x1": (1, 1), "mbn_3x3": (3, 3)}


def variant_settings(row):
    if row == "pabt_old":
        return VARIANTS["old"]
    if row == "pabt_new":
        return None  # the library's defaults
    return VARIANTS[row.split(":", 1)[1]]


def prune_callback(row, epochs, x_fit, seed):
    settings = variant_settings(row)
    if settings is None:
        return pabt_demo.prune_callback(epochs, statistics_data=x_fit, seed=seed)
    settings = dict(settings)
    start = max(1, int(round(settings.pop("start") * epochs)))
    end = min(epochs, max(start + 1, int(round(settings.pop("end") * epochs))))
    statistics = settings.pop("statistics")
    return callbacks.PruneToBinary(start, end, seed=seed, statistics_data=x_fit if statistics else None,
                                   **prune_options(settings))


def run(row, width, epochs, float_epochs, arrays, seed):
    x_fit, x_eval, y_eval = arrays.x_train, arrays.x_test, arrays.y_test
    m, n = DIRECT.get(row, (3, 3))
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(arrays.x_train.shape[1:], arrays.num_classes, width=width, conv="mbn",
                              weight_bases=m, activation_bases=n)
    binary_epochs = epochs
    if float_epochs:
        transfer.pretrain_float(model, arrays, float_epochs, verbose=0)
        binary_epochs = epochs - float_epochs
    extra = []
    if row.startswith("pabt"):
        extra = [prune_callback(row, binary_epochs, x_fit, seed)]
    # Statistics as each row's callback leaves them: "keras" is what Keras alone gives.
    history = training.train(model, arrays, binary_epochs, callbacks=extra, decay=True, verbose=0,
                             reestimate_statistics=False).history
    _, keras_accuracy = model.evaluate(x_eval, y_eval, verbose=0)
    batchnorm.reestimate_statistics(model, x_fit, seed=seed)  # as PruneToBinary does
    _, accuracy = model.evaluate(x_eval, y_eval, verbose=0)
    return {
        "accuracy_keras": float(keras_accuracy),
        "accuracy": float(accuracy),
        "max_drop": history["pabt_max_drop"][-1] if "pabt_max_drop" in history else None,
        "val_curve": [round(float(v), 4) for v in history["val_accuracy"]],
        "bit_ops": int(cost.model_cost(model).bit_ops),
    }


def max_fall(record):
    """The largest fall of the evaluation curve below its best value since the epoch before pruning, during pruning.

    What PruneToBinary logs as `pabt_max_fall`, computed from the saved curve
    (records made before that figure was logged have only `pabt_max_drop`).
    """
    if not record["row"].startswith("pabt"):
        return None
    row = record["row"][:-len("+float")] if record["row"].endswith("+float") else record["row"]
    prune = prune_callback(row, record["epochs"] - record["float_epochs"], None, 0)
    curve = record["val_curve"]
    peak, fall = curve[prune.start_epoch - 1], 0.0
    for value in curve[prune.start_epoch:prune.end_epoch + 1]:
        peak = max(peak, value)
        fall = max(fall, peak - value)
    return fall


def stats(values):
    values = [v for v in values if v is not None]
    return (float(np.mean(values)), float(np.std(values))) if values else (float("nan"), float("nan"))


def table(records, args):
    lines = [
        f"digits at {args.image_size}x{args.image_size} (`tfbin.data.digits_arrays`), split `{args.split}`"
        + (" (a stratified quarter of the training split held out)" if args.split == "validation" else "")
        + f", digits_resnet, {args.epochs} total epochs per row, Bop + Adam, linear eta/phi decay to 1%,"
        f" seeds {args.seeds}; +float: {args.float_epochs} of those epochs train the float twin",
        "",
        "| width | model | acc. (keras) | acc. (re-est.) mean ± std | min | max drop in pruning "
        "| max fall in pruning | per seed (re-est.) | bit-OPs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (width, name), group in records.items():
        keras_mean, _ = stats([r["accuracy_keras"] for r in group])
        mean, std = stats([r["accuracy"] for r in group])
        drops = [r["max_drop"] for r in group]
        drop = "" if all(d is None for d in drops) else "{:.3f} (worst {:.3f})".format(
            stats(drops)[0], max(d for d in drops if d is not None))
        falls = [max_fall(r) for r in group]
        fall = "" if all(f is None for f in falls) else "{:.3f} (worst {:.3f})".format(stats(falls)[0], max(falls))
        per_seed = ", ".join(f"{r['accuracy']:.3f}" for r in group)
        lines.append(f"| {width} | {name} | {keras_mean:.4f} | {mean:.4f} ± {std:.4f} | "
                     f"{min(r['accuracy'] for r in group):.3f} | {drop} | {fall} | {per_seed} | "
                     f"{group[0]['bit_ops']:,} |")
    return "\n".join(lines) + "\n"


def table_from(args):
    """The table of saved records (several files, e.g. one per width, merged), with the commands that made them."""
    records, commands = {}, []
    for path in args.table_from:
        with open(path) as f:
            for record in json.load(f):
                records.setdefault((record["width"], record["row"]), []).append(record)
                if record["command"] not in commands:
                    commands.append(record["command"])
    first = next(iter(records.values()))[0]
    args.split, args.epochs = first["split"], first["epochs"]
    args.seeds = sorted({r["seed"] for group in records.values() for r in group})
    args.float_epochs = max(r["float_epochs"] for group in records.values() for r in group)
    records = dict(sorted(records.items(), key=lambda item: item[0][0]))  # by width, rows in run order
    print_and_save(table(records, args) + "\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n",
                   args.out or os.path.join(RESULTS, f"pabt_digits_{args.split}.md"))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rows = ["bnn_1x1", "pabt_old", "pabt_new", "mbn_3x3"]
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--image-size", type=int, default=8, help="digits upsampled to this size (8 to 32)")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--epochs", type=int, default=30, help="total epochs of every row")
    parser.add_argument("--float-epochs", type=int, default=0,
                        help="epochs of float training before the binary training (0: none)")
    parser.add_argument("--both-inits", action="store_true",
                        help="run every row without and with float initialisation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rows", nargs="+", default=rows,
                        help=f"{', '.join(rows)} or pabt:NAME with NAME in {', '.join(VARIANTS)}")
    parser.add_argument("--out", default=None, help="the table (default results/pabt_digits_<split>.md)")
    parser.add_argument("--runs", default=None, help="the records as JSON (default: --out with .json)")
    parser.add_argument("--table-from", nargs="+", default=None, metavar="RUNS_JSON",
                        help="train nothing: print and save (--out) the table of these saved records")
    add_quick_flag(parser, "the smallest width, 2 epochs (with --float-epochs: 3, one of them float), the first "
                           "seed, " + QUICK_DIGITS)
    args = parser.parse_args(argv)
    if args.table_from:
        return table_from(args)
    start_quick(args)
    if args.quick:
        args.widths, args.seeds = [min(args.widths)], args.seeds[:1]
        args.epochs, args.float_epochs = (3, 1) if args.float_epochs else (2, 0)
    for row in args.rows:
        if row not in rows and not (row.startswith("pabt:") and row.split(":", 1)[1] in VARIANTS):
            parser.error(f"--rows: unknown row {row!r}")
    if args.both_inits and not args.float_epochs:
        parser.error("--both-inits needs --float-epochs")
    command = "python benchmarks/pabt_digits.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    inits = [0, args.float_epochs] if args.both_inits else [args.float_epochs]

    out = args.out or os.path.join(RESULTS, f"pabt_digits_{args.split}.md")
    runs = args.runs or os.path.splitext(out)[0] + ".json"
    arrays = digits_splits(args.image_size, args.split, args.quick)[0]
    records, flat = {}, []
    total = len(args.widths) * len(inits) * len(args.rows) * len(args.seeds)

    def report():
        return table(records, args) + f"\nCommand: `{command}`\n"

    # Seeds outermost, so that an interrupted run leaves every row with as many seeds as it got to.
    for seed in args.seeds:
        for width in args.widths:
            for float_epochs in inits:
                for row in args.rows:
                    name = row + ("+float" if float_epochs else "")
                    start = time.perf_counter()
                    record = run(row, width, args.epochs, float_epochs, arrays, seed)
                    record.update(width=width, row=name, seed=seed, split=args.split, epochs=args.epochs,
                                  float_epochs=float_epochs, seconds=round(time.perf_counter() - start),
                                  settings=variant_settings(row) if row.startswith("pabt") else None,
                                  command=command)
                    records.setdefault((width, name), []).append(record)
                    flat.append(record)
                    drop = "" if record["max_drop"] is None else f"  max drop {record['max_drop']:.3f}"
                    print(f"width {width} {name:<24} seed {seed}: accuracy keras {record['accuracy_keras']:.4f} "
                          f"re-est. {record['accuracy']:.4f}{drop} ({record['seconds']} s)", flush=True)
                    save_progress(flat, total, runs, out, report)
    print_and_save(report(), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
