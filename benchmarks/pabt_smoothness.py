"""How abrupt PaBT's pruning is in the demo's configuration, per PruneToBinary setting, over seeds.

The demo (`tfbin demo`) trains `digits_resnet` width 32 for 12 epochs with a
constant learning rate and prunes 3/3 -> 1/1 from epoch 1 to 5. This script
runs that configuration on a validation split (a stratified quarter of the
digits training split, never the test split) and records for each setting the
validation curve, `pabt_max_drop` (the largest fall below the value before
pruning), `pabt_max_fall` (below the best value since) and the final accuracy.
`unpruned_1x1` and `unpruned_3x3` train without pruning and show the falls of
an unpruned curve over the same epochs: the noise floor of these figures.

    python benchmarks/pabt_smoothness.py --variants linear polynomial --seeds 0 1 2 3 4 5
    python benchmarks/pabt_smoothness.py --variants polynomial --epochs 24
    python benchmarks/pabt_smoothness.py --table-from results/select/smoothness.json

The table is printed and written to --out; the records go to --out with .json.
"""
import argparse
import json
import os
import shlex
import sys

import numpy as np
from sklearn.model_selection import train_test_split

import tfbin  # noqa: F401  (before TensorFlow)
from common import print_and_save
import tensorflow as tf  # noqa: E402

from tfbin import callbacks, data, pruning, training, zoo
from tfbin.files import write_json

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
WIDTH = 32


def phase(epochs):
    """The pruning phase of `PruneToBinary.for_epochs(epochs)`: (start_epoch, end_epoch)."""
    prune = callbacks.PruneToBinary.for_epochs(epochs)
    return prune.start_epoch, prune.end_epoch


class GeometricSchedule(pruning.PruningSchedule):
    """Live convolutions fall by a constant factor per unit of time: total ** (1 - progress)."""

    def fraction(self, progress):
        # The pruned fraction depends on the layer's size; this is a 3/3 layer's (9 convolutions).
        return (9.0 - 9.0 ** (1.0 - progress)) / 8.0

    def live_count(self, total, epoch):
        progress = min(max((epoch - self.start_epoch) / (self.end_epoch - self.start_epoch), 0.0), 1.0)
        return int(np.ceil(total ** (1.0 - progress) - 1e-9))


# PruneToBinary keyword arguments of each setting, over `phase(epochs)`, every step unless told.
VARIANTS = {
    "linear": dict(schedule="linear"),
    "polynomial": dict(schedule="polynomial"),
    "geometric": dict(schedule="geometric"),
    "epochwise": dict(schedule="linear", frequency="epoch"),
    "fade_half_epoch": dict(schedule="linear", fade_steps="half"),
    "fade_epoch": dict(schedule="linear", fade_steps="epoch"),
    "global": dict(schedule="linear", budget="global"),
    "global+fade_half_epoch": dict(schedule="linear", budget="global", fade_steps="half"),
    "activations_first": dict(schedule="linear", order="activations_first"),
    "weights_first": dict(schedule="linear", order="weights_first"),
    "polynomial+window_epoch": dict(schedule="polynomial", importance_window="epoch"),
    "polynomial+window_100": dict(schedule="polynomial", importance_window=100),
}
UNPRUNED = {"unpruned_1x1": (1, 1), "unpruned_3x3": (3, 3)}


def _split():
    arrays = data.digits_arrays()
    x_fit, x_val, y_fit, y_val = train_test_split(arrays.x_train, arrays.y_train, test_size=0.25, random_state=0,
                                                  stratify=arrays.y_train)
    return data.Arrays(x_fit, y_fit, x_val, y_val, num_classes=10)


def prune_callback(variant, epochs, seed, split):
    settings = dict(VARIANTS[variant])
    steps = training.steps_per_epoch(split)  # as training.train fits it
    fade = settings.pop("fade_steps", None)
    if fade:
        settings["fade_steps"] = steps // 2 if fade == "half" else steps
    if settings.get("importance_window") == "epoch":
        settings["importance_window"] = steps
    # A schedule object holds the phase itself; a schedule name takes it from the arguments.
    schedule, phase_epochs = settings.pop("schedule"), phase(epochs)
    if schedule == "geometric":
        schedule, phase_epochs = GeometricSchedule(*phase_epochs), ()
    settings.setdefault("frequency", "step")
    return callbacks.PruneToBinary(*phase_epochs, schedule=schedule, update_every=1, seed=seed,
                                   statistics_data=split.x_train, **settings)


def falls(curve, epochs):
    """(max drop, max fall) of `curve` over the pruning phase, as PruneToBinary logs them."""
    start, end = phase(epochs)
    reference = peak = curve[start - 1]
    drop = fall = 0.0
    for value in curve[start:end + 1]:
        drop, peak = max(drop, reference - value), max(peak, value)
        fall = max(fall, peak - value)
    return drop, fall


def run(variant, epochs, seed):
    split = _split()
    m, n = UNPRUNED.get(variant, (3, 3))
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=WIDTH, conv="mbn", weight_bases=m, activation_bases=n)
    extra = [] if variant in UNPRUNED else [prune_callback(variant, epochs, seed, split)]
    history = training.train(model, split, epochs, callbacks=extra, verbose=0).history
    curve = [round(float(v), 4) for v in history["val_accuracy"]]
    drop, fall = falls(curve, epochs)
    return {"variant": variant, "epochs": epochs, "seed": seed, "curve": curve, "final": curve[-1],
            "max_drop": drop, "max_fall": fall, "train_curve": [round(float(v), 4) for v in history["accuracy"]]}


def table(records):
    lines = [
        f"digits validation split (a stratified quarter of the training split), digits_resnet width {WIDTH}, "
        "constant eta, PaBT 3/3 -> 1/1 over `PruneToBinary.for_epochs`' phase (12 epochs: the demo's "
        "configuration, pruning from epoch 1 to 5); falls in percentage points over the pruning phase",
        "",
        "| setting | epochs | seeds | final acc. mean | max fall mean | worst | seeds > 3 pp | max drop worst "
        "| seeds > 3 pp |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (variant, epochs), group in records.items():
        final = np.mean([r["final"] for r in group])
        fall = [100 * r["max_fall"] for r in group]
        drop = [100 * r["max_drop"] for r in group]
        lines.append(f"| {variant} | {epochs} | {len(group)} | {final:.4f} | {np.mean(fall):.1f} | {max(fall):.1f} | "
                     f"{sum(f > 3 for f in fall)} | {max(drop):.1f} | {sum(d > 3 for d in drop)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*VARIANTS, *UNPRUNED]
    parser.add_argument("--variants", nargs="+", default=names, choices=names)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every run (the demo trains 12)")
    parser.add_argument("--out", default=os.path.join(RESULTS, "select", "smoothness.md"))
    parser.add_argument("--table-from", nargs="+", default=None, metavar="RUNS_JSON")
    args = parser.parse_args(argv)
    command = "python benchmarks/pabt_smoothness.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    records = []
    if args.table_from:
        for path in args.table_from:
            with open(path) as f:
                records += json.load(f)
    else:
        for seed in args.seeds:
            for variant in args.variants:
                records.append({**run(variant, args.epochs, seed), "command": command})
                r = records[-1]
                print(f"{variant:24s} seed {seed}: final {r['final']:.4f}  max drop {100 * r['max_drop']:.1f} pp  "
                      f"max fall {100 * r['max_fall']:.1f} pp", flush=True)
        write_json(os.path.splitext(args.out)[0] + ".json", records)
    grouped = {}
    for record in records:
        grouped.setdefault((record["variant"], record.get("epochs", 12)), []).append(record)
    commands = sorted({r["command"] for r in records})
    print_and_save(table(grouped) + "\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
