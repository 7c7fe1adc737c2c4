"""What the network does in the steps after PaBT's last removal, and which optimizer drives it.

In the demo's configuration (`pabt_smoothness.py`: width 32, validation split, polynomial schedule),
the last pruning event takes every layer from 2 convolutions to 1 at the start of epoch 5. This
script trains up to that event, then continues the same network three ways for two epochs, scoring
validation accuracy (statistics re-estimated on training data) every few steps:

- `both`: training as usual (Bop flips the binary weights, Adam trains the rest);
- `no_flips`: Bop's threshold is raised so that no weight flips; Adam alone adapts;
- `no_adam`: Adam's learning rate is 0; only Bop's flips adapt.

    python benchmarks/pabt_recovery.py --seeds 0 3
    python benchmarks/pabt_recovery.py --quick      # a smoke run (see --help)

The table is printed and written to --out; the records go to --out with .json.
"""
import argparse
import os
import shlex
import sys

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import QUICK_DIGITS, add_quick_flag, print_and_save, quick_digits, start_quick
import tensorflow as tf  # noqa: E402

import pabt_smoothness as smoothness  # noqa: E402
from tfbin import batchnorm, training, zoo  # noqa: E402
from tfbin.files import write_json  # noqa: E402

MODES = ("both", "no_flips", "no_adam")
EPOCHS = 12  # the demo's run, whose pruning phase ends at epoch 5
QUICK_WIDTH = smoothness.QUICK_WIDTH


class _Score(tf.keras.callbacks.Callback):
    """Validation accuracy with re-estimated statistics after every `every` training steps."""

    def __init__(self, split, every):
        super().__init__()
        self.split, self.every = split, every
        self.steps, self.curve = 0, []

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every == 0:
            self.curve.append(round(score(self.model, self.split), 4))


def score(model, split):
    batchnorm.reestimate_statistics(model, split.x_train, 8, 256, seed=0)
    return float(model.evaluate(split.x_test, split.y_test, verbose=0)[1])


def run(seed, every, epochs_after, split, width=smoothness.WIDTH, epochs=EPOCHS):
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=width, conv="mbn", weight_bases=3, activation_bases=3)
    prune = smoothness.prune_callback("polynomial", epochs, seed, split)
    # The constant Bop + Adam setting these results were measured with (the defaults before BOP_DEFAULTS).
    optimizer = training.default_optimizer(model, learning_rate=1e-3)
    before = training.train(model, split, prune.end_epoch, optimizer=optimizer, callbacks=[prune],
                            verbose=0).history["val_accuracy"][-1]
    # PruneToBinary's on_train_end made the last removal (every layer to one convolution).
    live = [int(np.sum(layer.mask.numpy() >= 1)) for layer in prune.layers]
    after = score(model, split)
    weights = [w.numpy() for w in model.weights]
    # CaseOptimizer's `weights` holds its optimizers' slots and step counts; its `variables()` does not.
    state = [v.numpy() for v in optimizer.weights]
    bop, adam = smoothness._bop(model), optimizer.default
    threshold, learning_rate = float(bop._get_hyper("threshold")), float(adam._get_hyper("learning_rate"))
    record = {"seed": seed, "width": width, "end_epoch": prune.end_epoch, "live": live,
              "before_removal": round(float(before), 4),
              "after_removal": round(after, 4), "every": every, "curves": {}}
    for mode in MODES:
        for variable, value in zip(model.weights, weights):
            variable.assign(value)
        for variable, value in zip(optimizer.weights, state):
            variable.assign(value)
        bop._set_hyper("threshold", 1e9 if mode == "no_flips" else threshold)
        adam._set_hyper("learning_rate", 0.0 if mode == "no_adam" else learning_rate)
        probe = _Score(split, every)
        model.fit(split.x_train, split.y_train, batch_size=64, epochs=epochs_after, callbacks=[probe], verbose=0)
        record["curves"][mode] = probe.curve
    return record


def table(records):
    every = records[0]["every"]
    points = len(records[0]["curves"][MODES[0]])
    lines = [
        f"digits validation split, digits_resnet width {records[0]['width']}, the demo's PaBT run up to its last "
        f"removal (every layer 2 -> 1 convolution at the start of epoch {records[0]['end_epoch']}), then "
        "continued three ways; validation accuracy with re-estimated statistics",
        "",
        "| seed | mode | before removal | right after | " + " | ".join(f"+{every * (i + 1)}" for i in range(points))
        + " |",
        "|---|---|---|---|" + "---|" * points,
    ]
    for record in records:
        for mode in MODES:
            lines.append(f"| {record['seed']} | {mode} | {record['before_removal']:.4f} | "
                         f"{record['after_removal']:.4f} | " + " | ".join(f"{v:.3f}" for v in record["curves"][mode])
                         + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--every", type=int, default=3, help="training steps between scores")
    parser.add_argument("--epochs-after", type=int, default=2, help="epochs of each continuation")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (float order depends on it)")
    parser.add_argument("--out", default=os.path.join(smoothness.RESULTS, "select", "recovery.md"))
    add_quick_flag(parser, f"width {QUICK_WIDTH}, 2 epochs to the last removal, 1 epoch after it scored every "
                           "step, the first seed, " + QUICK_DIGITS)
    args = parser.parse_args(argv)
    start_quick(args)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    command = "python benchmarks/pabt_recovery.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    split, seeds, every, epochs_after, shape = smoothness._split(), args.seeds, args.every, args.epochs_after, {}
    if args.quick:
        split, seeds, every, epochs_after = quick_digits(split), seeds[:1], 1, 1
        shape = dict(width=QUICK_WIDTH, epochs=2)
    records = []
    for seed in seeds:
        records.append({**run(seed, every, epochs_after, split, **shape), "threads": args.threads,
                        "command": command})
        print(f"seed {seed}: " + "; ".join(f"{m} {records[-1]['curves'][m]}" for m in MODES), flush=True)
    write_json(os.path.splitext(args.out)[0] + ".json", records)
    print_and_save(table(records) + f"\nCommand:\n\n    {command}\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
