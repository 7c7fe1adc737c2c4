"""PaBT vs directly trained BNNs vs the unpruned MBN 3/3 on digits, over seeds.

Each row trains the digits residual net (`tfbin.zoo.digits_resnet`) for the
same number of epochs with Bop + Adam:

- bnn_larq:   larq QuantConv2D BNN (sign activations, no scales);
- bnn_1x1:    MultiBaseConv2D with M = N = 1 trained directly: the same
              architecture as the PaBT result (learned threshold and scales);
- mbn_2x2, mbn_3x3: MultiBaseConv2D 2/2 and 3/3, not pruned;
- pabt_*:     MultiBaseConv2D 3/3 pruned by PruneToBinary to 1/1 with the
              given importance (taylor, and magnitude / random ablations).

    python benchmarks/pabt_digits.py --width 8 --epochs 30 --seeds 0 1 2

Prints and saves a Markdown table (mean and std of test accuracy over seeds,
bit-OPs of the final model).
"""
import argparse
import os
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import print_and_save
import tensorflow as tf  # noqa: E402

from tfbin import callbacks, cost, data, training, transfer, zoo

ROWS = ("bnn_larq", "bnn_1x1", "mbn_2x2", "mbn_3x3", "pabt_taylor", "pabt_magnitude", "pabt_random")


def run_row(row, arrays, args, seed):
    kwargs, extra = {}, []
    conv = "bnn" if row == "bnn_larq" else "mbn"
    if row == "bnn_1x1":
        kwargs = dict(weight_bases=1, activation_bases=1)
    elif row == "mbn_2x2":
        kwargs = dict(weight_bases=2, activation_bases=2)
    elif row != "bnn_larq":
        kwargs = dict(weight_bases=3, activation_bases=3)
    if row.startswith("pabt"):
        extra = [callbacks.PruneToBinary(args.start, args.end, schedule=args.schedule,
                                         frequency=args.frequency, update_every=1,
                                         importance=row.split("_", 1)[1], seed=seed)]
    init = None
    if args.float_epochs and conv == "mbn":
        tf.keras.utils.set_random_seed(seed)
        init = zoo.digits_resnet(width=args.width, conv="float")
        training.train(init, arrays, args.float_epochs, verbose=0)
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=args.width, conv=conv, **kwargs)
    if init is not None:
        transfer.init_from_float(model, init)
    training.train(model, arrays, args.epochs, callbacks=extra, decay=args.decay, verbose=0)
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    return accuracy, cost.model_cost(model).bit_ops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--start", type=int, default=5, help="PaBT pruning start epoch")
    parser.add_argument("--end", type=int, default=20, help="PaBT pruning end epoch")
    parser.add_argument("--schedule", default="linear", choices=("linear", "polynomial"))
    parser.add_argument("--frequency", default="step", choices=("epoch", "step"),
                        help="prune at epoch starts or a little at every step")
    parser.add_argument("--float-epochs", type=int, default=0,
                        help="pre-train a float net this long and initialise the MBNs from it")
    parser.add_argument("--decay", action="store_true",
                        help="decay eta and Bop's gamma linearly to 1e-5 over the run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "pabt_digits.md"))
    args = parser.parse_args(argv)

    arrays = data.digits_arrays()
    results = {}
    for row in args.rows:
        accuracies = []
        for seed in args.seeds:
            start = time.perf_counter()
            accuracy, bit_ops = run_row(row, arrays, args, seed)
            accuracies.append(accuracy)
            print(f"{row:<15} seed {seed}: accuracy {accuracy:.4f}  bit-OPs {bit_ops:,}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        results[row] = (np.mean(accuracies), np.std(accuracies), bit_ops, accuracies)

    lines = [
        f"digits, digits_resnet width {args.width}, {args.epochs} epochs, Bop + Adam, "
        f"seeds {args.seeds}; PaBT prunes 3/3 -> 1/1 from epoch {args.start} to {args.end} "
        f"({args.schedule}, every {args.frequency}); eta/phi decay: {'linear' if args.decay else 'none'}; float pre-training: {args.float_epochs or 'none'} epochs",
        "",
        "| model | test accuracy mean | std | per seed | bit-OPs (final) |",
        "|---|---|---|---|---|",
    ]
    for row, (mean, std, bit_ops, accuracies) in results.items():
        per_seed = ", ".join(f"{a:.4f}" for a in accuracies)
        lines.append(f"| {row} | {mean:.4f} | {std:.4f} | {per_seed} | {bit_ops:,} |")
    table = "\n".join(lines) + "\n"
    print_and_save(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
