"""STE vs BMD vs Bop vs BNEW at equal epochs, and an ablation of ReActNet-style parts, on digits over seeds.

"Training Fully Binary Neural Networks the Easy Way" (BNEW, BMVC 2022) asks
two questions this script asks again at our scale.

Comparison (its Table 1). Per seed, the digits residual net
(`tfbin.zoo.digits_resnet`, Bi-Real blocks) is pretrained with binary
activations and real weights clipped to [-1, 1] (BNEW's first phase, the
common start of every method in the paper), then each method trains the same
number of epochs from those weights:

- ste:  sign(w) forward, straight-through gradients, Adam for everything;
- bmd:  binary mirror descent (`tfbin.optimizers.BMD`), beta 1 -> BETA_END;
- bop:  Bop for the binary weights, Adam for the rest;
- bnew: BNEW's proximal steps (`tfbin.optimizers.BNEW`), lambda0 from PUSH.

BMD and BNEW freeze their weights to sign(w) for the last tenth of the epochs.
`--distill` adds the same four rows distilled from a float teacher (the other
half of Table 1).

Ablation (its Table 2). The ReActNet-style network (`block="reactnet"`:
RSign, binary convolution, per-channel scale, BatchNorm, RPReLU) distilled
from a float teacher of the same layout is the baseline; each row switches one
part off (learnable biases, PReLU -> ReLU between biases, scaling factors,
distillation) or makes more layers binary (first and last layers, the 1x1
downsampling shortcuts). Each row is pretrained per seed and then trained with
STE and with BNEW; BNEW alone also runs without pretraining (random start,
the binarize phase only, as in the paper) and with the l1 and l2 proximal
steps. The teacher's accuracy is the real-valued row.

Every trained model is converted with `tfbin.convert.convert`, which refuses
binary layers left as float and checks parity with Keras; the tables give the
LceBconv2d count and the worst argmax agreement next to the accuracies (test
accuracy with BatchNorm moving statistics, as deployed).

    python benchmarks/bnew.py comparison --width 8 --pretrain-epochs 8 --epochs 24 --seeds 0 1 2
    python benchmarks/bnew.py ablation --width 8 --pretrain-epochs 8 --epochs 24 --seeds 0 1 2

`--quick` makes either a smoke run (see `--help`).
"""
import argparse
import os
import shlex
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import QUICK_DIGITS, add_quick_flag, print_and_save, quick_digits, start_quick
import tensorflow as tf  # noqa: E402

from tfbin import data, training, zoo  # noqa: E402
from tfbin.convert import convert  # noqa: E402
from tfbin.demo import bnew as demo  # noqa: E402
from tfbin.distillation import Distiller  # noqa: E402

METHODS = ("ste", "bmd", "bop", "bnew")
# Ablation rows: (model options, distilled, pretrained); BNEW-only rows are marked in BNEW_ONLY.
ABLATION = {
    "baseline": ({}, True, True),
    "no learnable biases": (dict(learnable_bias=False), True, True),
    "no PReLU (ReLU)": (dict(prelu=False), True, True),
    "no scaling factors": (dict(channel_scale=False), True, True),
    "no distillation": ({}, False, True),
    "binary first and last": (dict(binary_stem=True, binary_classifier=True), True, True),
    "binary downsampling": (dict(binary_downsample=True), True, True),
    "no pretraining": ({}, True, False),
    "l1 regulariser": ({}, True, True),
    "l2 regulariser": ({}, True, True),
}
BNEW_ONLY = {"l1 regulariser": dict(regularizer="l1"), "l2 regulariser": dict(regularizer="l2")}


def _build(args, conv, block="bireal", **options):
    size = args.image_size
    return zoo.digits_resnet((size, size, 1), 10, width=args.width, conv=conv, block=block, **options)


LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _fit(model, arrays, epochs, optimizer, teacher=None):
    # No validation during training: only the final model is measured.
    trainee = model if teacher is None else Distiller(model, teacher)
    trainee.compile(optimizer, LOSS, metrics=["accuracy"])
    trainee.fit(arrays.x_train, arrays.y_train, batch_size=64, epochs=epochs, verbose=0)
    if teacher is not None:
        model.compile(loss=LOSS, metrics=["accuracy"])  # the student, on its own, for evaluation
    return model


def _freeze_epoch(epochs):
    return epochs - max(1, int(round(0.1 * epochs)))


def train_teacher(args, arrays, seed):
    """A float network of the ReActNet layout (basic float blocks would be linear), trained for all the epochs."""
    tf.keras.utils.set_random_seed(seed)
    teacher = _build(args, "float", block="reactnet")
    epochs = args.pretrain_epochs + args.epochs
    steps = training.steps_per_epoch(arrays)
    return _fit(teacher, arrays, epochs, demo.adam(steps, epochs, learning_rate=args.teacher_learning_rate))


def pretrain(args, arrays, seed, block="bireal", options=None, teacher=None):
    """Weights after the pretrain phase: binary activations, real weights clipped to [-1, 1]."""
    tf.keras.utils.set_random_seed(seed)
    model = _build(args, "relaxed", block, **(options or {}))
    steps, epochs = training.steps_per_epoch(arrays), args.pretrain_epochs
    bnew = demo.bnew(steps, epochs, binarize_epoch=epochs, freeze_epoch=epochs, learning_rate=args.learning_rate)
    return _fit(model, arrays, epochs, bnew, teacher).get_weights()


def train_method(args, arrays, seed, method, weights=None, block="bireal", options=None, teacher=None, **extra):
    """Trains `method` for args.epochs from `weights` (or from scratch); returns the model."""
    tf.keras.utils.set_random_seed(seed + 1000)
    model = _build(args, demo.conv_of(method), block, **(options or {}))
    if weights is not None:
        model.set_weights(weights)
    steps, epochs = training.steps_per_epoch(arrays), args.epochs
    kwargs = dict(learning_rate=args.learning_rate, **extra)
    if method == "bnew":
        kwargs["push"] = args.push
    if method == "bmd":
        kwargs["beta_end"] = args.beta_end
    if method in ("bmd", "bnew"):
        kwargs.update(binarize_epoch=0, freeze_epoch=_freeze_epoch(epochs))
    return _fit(model, arrays, epochs, demo.optimizer(method, steps, epochs, **kwargs), teacher)


def measure(model, arrays, convert_it):
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    if not convert_it:
        return accuracy, None
    result = convert(model, calibration_data=arrays.x_test)
    return accuracy, (result.census.get("LceBconv2d", 0), result.parity.argmax_agreement)


class Results:
    """Accuracies and conversion figures per row, over seeds."""

    def __init__(self):
        self.accuracy, self.conversions = {}, {}

    def add(self, row, measured):
        accuracy, conversion = measured
        self.accuracy.setdefault(row, []).append(float(accuracy))
        if conversion is not None:
            self.conversions.setdefault(row, []).append(conversion)
        print(f"  {row}: {accuracy:.4f}" + (f", LceBconv2d {conversion[0]}, argmax agreement {conversion[1]:.4f}"
                                          if conversion else ""), flush=True)

    def cell(self, row):
        values = self.accuracy.get(row)
        if not values:
            return "-"
        return f"{np.mean(values):.4f} ± {np.std(values):.4f}"

    def seeds(self, row):
        return ", ".join(f"{v:.4f}" for v in self.accuracy.get(row, []))

    def conversion(self, row):
        found = self.conversions.get(row)
        if not found:
            return "-", "-"
        counts = sorted({count for count, _ in found})
        return "/".join(map(str, counts)), f"{min(agreement for _, agreement in found):.4f}"


def comparison(args, arrays):
    results = Results()
    for seed in args.seeds:
        for distilled in ((False, True) if args.distill else (False,)):
            teacher = train_teacher(args, arrays, seed) if distilled else None
            weights = pretrain(args, arrays, seed, teacher=teacher)
            for method in METHODS:
                row = method + (" + distillation" if distilled else "")
                print(f"seed {seed}: {row}", flush=True)
                model = train_method(args, arrays, seed, method, weights, teacher=teacher)
                results.add(row, measure(model, arrays, args.convert == "all" or seed == args.seeds[0]))
    rows = [m + s for s in ([""] + ([" + distillation"] if args.distill else [])) for m in METHODS]
    lines = [
        "| method | test accuracy (mean ± std) | per seed | LceBconv2d | argmax agreement (min) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        count, agreement = results.conversion(row)
        lines.append(f"| {row} | {results.cell(row)} | {results.seeds(row)} | {count} | {agreement} |")
    return lines


def ablation(args, arrays):
    results = {"STE": Results(), "BNEW": Results()}
    real = Results()
    for seed in args.seeds:
        teacher = train_teacher(args, arrays, seed)
        real.add("real-valued teacher", measure(teacher, arrays, False))
        cache = {}
        for row in args.rows:
            options, distilled, pretrained = ABLATION[row]
            row_teacher = teacher if distilled else None
            weights = None
            if pretrained:
                key = (tuple(sorted(options.items())), distilled)
                if key not in cache:
                    cache[key] = pretrain(args, arrays, seed, "reactnet", options, row_teacher)
                weights = cache[key]
            convert_it = args.convert == "all" or seed == args.seeds[0]
            for column, method in (("STE", "ste"), ("BNEW", "bnew")):
                if row in BNEW_ONLY and method != "bnew":
                    continue
                print(f"seed {seed}: {row}, {column}", flush=True)
                model = train_method(args, arrays, seed, method, weights, "reactnet", options, row_teacher,
                                     **BNEW_ONLY.get(row, {}))
                results[column].add(row, measure(model, arrays, convert_it))
    lines = [
        "| variant | STE | BNEW | LceBconv2d (STE/BNEW) | argmax agreement (min) |",
        "|---|---|---|---|---|",
        f"| real-valued (float teacher) | {real.cell('real-valued teacher')} | | | |",
    ]
    for row in args.rows:
        counts = [results[c].conversion(row)[0] for c in ("STE", "BNEW")]
        agreements = [a for c in ("STE", "BNEW") if (a := results[c].conversion(row)[1]) != "-"]
        lines.append(f"| {row} | {results['STE'].cell(row)} | {results['BNEW'].cell(row)} | {' / '.join(counts)} | "
                     f"{min(agreements) if agreements else '-'} |")
    lines.append("")
    lines.append("Per seed (STE; BNEW): " + "; ".join(
        f"{row}: {results['STE'].seeds(row) or '-'}; {results['BNEW'].seeds(row)}" for row in args.rows))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("comparison", "ablation"))
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=8, help="digits upsampled to this size (8 to 32)")
    parser.add_argument("--pretrain-epochs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=24, help="epochs of each method after pretraining")
    parser.add_argument("--learning-rate", type=float, default=demo.LEARNING_RATE,
                        help="Adam's, decaying linearly to 1%% over each run")
    parser.add_argument("--teacher-learning-rate", type=float, default=1e-2)
    parser.add_argument("--push", type=float, default=demo.PUSH, help="BNEW: lambda0 * steps per epoch * epochs")
    parser.add_argument("--beta-end", type=float, default=demo.BETA_END, help="BMD: beta when it freezes")
    parser.add_argument("--distill", action="store_true", help="comparison: also each method distilled")
    parser.add_argument("--rows", nargs="+", default=list(ABLATION), choices=list(ABLATION), metavar="ROW")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--convert", choices=("all", "first"), default="all",
                        help="convert every trained model, or those of the first seed")
    parser.add_argument("--out", help="Markdown file (default benchmarks/results/bnew_<part>.md)")
    add_quick_flag(parser, "width 4, 1 pretraining epoch, 2 epochs per method (BMD and BNEW freeze for the second), "
                           "the first seed, " + QUICK_DIGITS)
    args = parser.parse_args(argv)
    start_quick(args)
    if args.quick:
        args.width, args.pretrain_epochs, args.epochs, args.seeds = 4, 1, 2, args.seeds[:1]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"bnew_{args.part}.md")
    arrays = data.digits_arrays(image_size=args.image_size)
    if args.quick:
        arrays = quick_digits(arrays)
    start = time.time()
    lines = comparison(args, arrays) if args.part == "comparison" else ablation(args, arrays)
    steps = training.steps_per_epoch(arrays)
    header = (
        f"digits at {args.image_size}x{args.image_size}, digits_resnet width {args.width} ({'Bi-Real' if args.part == 'comparison' else 'ReActNet-style'} blocks), "
        f"{args.pretrain_epochs} pretraining epochs (binary activations, weights clipped to [-1, 1]) then "
        f"{args.epochs} epochs per method, Adam lr {args.learning_rate} decaying linearly to 1%, "
        f"{steps} steps per epoch; BNEW lambda0 = {args.push} / ({steps} x {args.epochs}) = "
        f"{args.push / (steps * args.epochs):.3g}, BMD beta 1 -> {args.beta_end:g}, both frozen to sign(w) "
        f"from epoch {_freeze_epoch(args.epochs)}; Bop gamma 1e-3, threshold 1e-7; seeds {args.seeds}; "
        f"test accuracy with BatchNorm moving statistics on {len(arrays.x_test)} images; "
        f"conversion: tfbin.convert.convert ({args.convert} models); {time.time() - start:.0f} s."
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.relpath(os.path.abspath(sys.argv[0]), root)
    command = "python " + " ".join(shlex.quote(a) for a in [script, *sys.argv[1:]])
    print_and_save("\n".join([header, "", *lines, "", f"Command: `{command}`", ""]), out)


if __name__ == "__main__":
    main()
