"""Sub-bit networks (SNN) against BNNs: accuracy on digits, and the SNN paper's cost tables.

The paper: "Sub-bit Neural Networks" (SNN), ICCV 2021.

Part 1 trains the digits residual net (`tfbin.zoo.digits_resnet`) for the same
number of epochs per row and seed, with `tfbin.training.train`'s defaults,
and reports accuracy (moving BatchNorm statistics, re-estimated as `train`
does) as mean and std over seeds. With `--split validation` (the default) a
stratified quarter of the training split is held out and scored, and the test
column gives the same models' test accuracy, looked at after the rows were
compared on validation:

- bnn:        larq QuantConv2D BNN (sign activations and kernels), Bop + Adam;
- irnet_bnn:  IR-Net (LibraSign kernels, ErrorDecaySign activations), Adam, ErrorDecay;
- snn_tauN:   SubBitConv2D with N bits per 3x3 kernel, trained like irnet_bnn,
              codebooks refined every 25 steps by RefineCodebooks' default
              "centroid" rule (a Lloyd step on the kernels);
- vanilla_snn_tauN: the same without refinement (the codebook stays the random
              sample: the paper's Vanilla-SNN);
- gradient_snn_tau5: the SNN paper's rule (RefineCodebooks(rule="gradient"),
              codebook_init 1, as the SNN code);
- gradient_snn_tau5_init0.05: the same with codebook_init 0.05, so that members
              can flip within a short run.

"kernel bits off" is the share of binary weights whose codebook member
differs from the sign of the latent kernel (what the codebook costs), and
"members used" the share of codebook members some kernel maps to, both over
the sub-bit layers of the last seed's model.

Part 2 builds ResNet-18 (ImageNet, 224x224), ResNet-20 (CIFAR, 18 binary 3x3
convolutions) and ResNet-50 (CIFAR, bottlenecks with binary 1x1 layers) with
sub-bit layers and lists #Params (binary weights only, Mbit), the bit-OPs that
run (LCE runs a sub-bit layer as a BNN layer) and the bit-OPs with the SNN
computation-sharing estimate, next to the published figures where there are
some: the SNN paper's Table 6 (ResNet-50, CIFAR-10) and the SNN code's README
(ResNet-18, ImageNet).

    python benchmarks/snn.py --image-size 16 --width 16 --epochs 12 --seeds 0 1 2
    python benchmarks/snn.py --skip-training            # the cost tables only
    python benchmarks/snn.py --skip-training --skip-costs --sizes   # LCE vs compact file sizes

With --sizes, part 3 converts ResNet-18 and ResNet-20 with LCE and compares
the flatbuffer with the compact sub-bit file (`tfbin.subbit`). `--quick` makes
any of these commands a smoke run (see `--help`).

Prints and saves Markdown tables: benchmarks/results/snn_accuracy_<image size>_<epochs>ep.md,
snn_costs.md and snn_sizes.md.
"""
import argparse
import os
import shlex
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import QUICK_DIGITS, add_quick_flag, cpu_flags, digits_splits, print_and_save, start_quick
import tensorflow as tf  # noqa: E402

from tfbin import callbacks, cost, subbit, training, zoo
from tfbin.layers import SubBitConv2D

# name: (conv, tau, refinement rule or None, codebook_init); None: the command line's value.
ROW_SPECS = {
    "bnn": ("bnn", 9, None, None),
    "irnet_bnn": ("irnet", 9, None, None),
    "snn_tau7": ("snn", 7, "centroid", None),
    "vanilla_snn_tau7": ("snn", 7, None, None),
    "snn_tau6": ("snn", 6, "centroid", None),
    "snn_tau5": ("snn", 5, "centroid", None),
    "vanilla_snn_tau5": ("snn", 5, None, None),
    "gradient_snn_tau5": ("snn", 5, "gradient", None),
    "gradient_snn_tau5_init0.05": ("snn", 5, "gradient", 0.05),
}
DEFAULT_ROWS = ("bnn", "irnet_bnn", "snn_tau7", "vanilla_snn_tau7", "snn_tau5", "vanilla_snn_tau5",
                "gradient_snn_tau5")
ROWS = tuple(ROW_SPECS)
COST_TAUS = (9, 8, 7, 6, 5, 4)
RESNET50_TAUS = (9, 5, 4, 3)
SIZE_TAUS = (9, 7, 5, 4)
# A smoke run's taus: the BNN every ratio divides by, and one sub-bit setting.
QUICK_TAUS = (9, 5)
# A smoke run's rows: one of each kind of training, both refinement rules.
QUICK_ROWS = ("bnn", "irnet_bnn", "snn_tau5", "gradient_snn_tau5")

# Published figures: (Mbit, bit-OPs in G) per tau.
SNN_README_RESNET18 = {9: (10.99, 1.677), 6: (7.324, 0.883), 5: (6.103, 0.501), 4: (4.882, 0.297)}
SEED_TABLE6_RESNET50 = {9: (23.45, 1.221), 5: (13.87, 0.333), 4: (11.09, 0.239), 3: (8.321, 0.191)}


def codebook_fit(model):
    """(share of kernel bits off their codebook member, share of members used) over the sub-bit layers."""
    off, used = [], []
    for layer in model.layers:
        if isinstance(layer, SubBitConv2D):
            off.append(layer.bits_off_codebook())
            used.append(len(np.unique(layer.unit_indices())) / 2**layer.tau)
    return (float(np.mean(off)), float(np.mean(used))) if off else (None, None)


def run_row(row, arrays, test, args, seed):
    conv, tau, rule, codebook_init = ROW_SPECS[row]
    codebook_init = codebook_init or args.codebook_init
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(arrays.x_train.shape[1:], arrays.num_classes, width=args.width, conv=conv, tau=tau)
    for layer in model.layers:
        if isinstance(layer, SubBitConv2D):
            layer.codebook_init = codebook_init
            layer.codebook_latent.assign(layer.codebook * codebook_init)
    # Every row but the plain BNN baseline trains with IR-Net's estimator.
    extra = [] if row == "bnn" else [callbacks.ErrorDecay(t_min=args.t_min, t_max=args.t_max)]
    if rule:
        extra.append(callbacks.RefineCodebooks(update_every=args.refine_every, rule=rule, seed=seed))
    history = training.train(model, arrays, args.epochs, callbacks=extra, verbose=0)
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    _, test_accuracy = model.evaluate(test.x_test, test.y_test, verbose=0)
    return {
        "accuracy": accuracy, "test_accuracy": test_accuracy, "cost": cost.model_cost(model),
        "size": len(subbit.to_bytes(model)), "changes": sum(history.history.get("snn_codebook_changes", [0])),
        "fit": codebook_fit(model),
    }


def _mean_std(values):
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def _share(value):
    return "-" if value is None else f"{value:.1%}"


def accuracy_table(args):
    arrays, test = digits_splits(args.image_size, args.split, args.quick)
    results = {}
    for row in args.rows:
        runs = []
        for seed in args.seeds:
            start = time.perf_counter()
            runs.append(run_row(row, arrays, test, args, seed))
            print(f"{row:<26} seed {seed}: {args.split} accuracy {runs[-1]['accuracy']:.4f}  codebook changes "
                  f"{runs[-1]['changes']:.0f}  ({time.perf_counter() - start:.0f} s)", flush=True)
        results[row] = runs
    scored = "validation" if args.split == "validation" else "test"
    lines = [
        f"digits at {args.image_size}x{args.image_size} ({len(arrays.x_train)} training / {len(arrays.x_test)} "
        f"{scored} images{'; a stratified quarter of the training split held out' if scored == 'validation' else ''}"
        f"), digits_resnet width {args.width}, {args.epochs} epochs, batch 64, seeds {args.seeds}; "
        "`tfbin.training.train`'s defaults (bnn: Bop + Adam; the others: Adam on real latent weights, eta 1e-2 "
        f"decaying linearly to 1%), ErrorDecay t {args.t_min:g} -> {args.t_max:g}; refinement every "
        f"{args.refine_every} steps, codebook_init {args.codebook_init:g} (unless the row says otherwise). "
        f"Accuracy with re-estimated moving BatchNorm statistics; CPU: {cpu_flags()}.",
        "",
        f"| model | tau | {scored} accuracy mean ± std | per seed | "
        + ("test accuracy mean ± std | " if scored == "validation" else "")
        + "kernel bits off their member | members used | codebook changes (last seed) "
        "| #Params (Mbit, binary) | compact file (B) |",
        "|---|---|---|---|" + ("---|" if scored == "validation" else "") + "---|---|---|---|---|",
    ]
    for row, runs in results.items():
        accuracies = [run["accuracy"] for run in runs]
        off, used = runs[-1]["fit"]
        lines.append(
            f"| {row} | {ROW_SPECS[row][1]} | {_mean_std(accuracies)} | {', '.join(f'{a:.4f}' for a in accuracies)} | "
            + (f"{_mean_std([run['test_accuracy'] for run in runs])} | " if scored == "validation" else "")
            + f"{_share(off)} | {_share(used)} | {runs[-1]['changes']:.0f} | {runs[-1]['cost'].binary_mbit:.4f} "
            f"| {runs[-1]['size']:,} |"
        )
    return "\n".join(lines) + "\n"


def resnet50_cifar(tau, tau_1x1):
    """ResNet-50 for CIFAR (3x3 stem, no max pool, stride in the first 1x1), every other conv sub-bit."""

    def conv(x, filters, kernel, strides, name):
        return SubBitConv2D(filters, kernel, tau=tau if kernel == 3 else tau_1x1, strides=strides,
                            padding="same", pad_values=1.0, use_bias=False, seed=0, name=name)(x)

    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(64, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    for s, (width, blocks, first_stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
        for b in range(blocks):
            strides, name = (first_stride if b == 0 else 1), f"stage{s + 1}_block{b + 1}"
            y = conv(x, width, 1, strides, f"{name}_reduce")
            y = conv(y, width, 3, 1, f"{name}_conv")
            y = conv(y, 4 * width, 1, 1, f"{name}_expand")
            shortcut = conv(x, 4 * width, 1, strides, f"{name}_down") if b == 0 else x
            x = tf.keras.layers.Add(name=f"{name}_add")([y, shortcut])
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(x), name="resnet50_cifar")


def resnet20_standard(tau):
    """ResNet-20 as in the SNN and IR-Net papers: 3 stages of 3 basic blocks, 18 binary 3x3 convolutions.

    tfbin's residual_net gives every 3x3 convolution its own shortcut
    (Bi-Real layout), so 6 of its blocks per stage make the 18 convolutions.
    """
    stages = [(16, 6, 1), (32, 6, 2), (64, 6, 2)]
    return zoo.residual_net((32, 32, 3), 10, stages, conv="snn", tau=tau, name="resnet20")


def _reference(published, tau):
    if tau not in published:
        return "", ""
    mbit, gops = published[tau]
    return f"{mbit:g}", f"{gops:g}"


def cost_table(taus=COST_TAUS, resnet50_taus=RESNET50_TAUS):
    lines = [
        "#Params: stored bits of the binary layers' weights (tau/9 per 3x3 weight, tau'/8 per 1x1 weight; "
        "stem, classifier, float shortcuts, BatchNorm, per-channel scales and codebooks excluded), in Mbit. "
        "Bit-OPs (LCE): binary MACs that run (LCE runs a sub-bit layer as a BNN layer). "
        "Bit-OPs (sharing): the SNN computation-sharing estimate (tfbin.cost.sharing_bit_ops). "
        "x smaller, x fewer: against the BNN (tau 9) #Params and bit-OPs (LCE), as the paper's ratios. "
        "tau 9 = every binary 3x3 kernel allowed (a BNN).",
        "",
        "| model | tau | #Params (Mbit) | x smaller | bit-OPs (LCE) | bit-OPs (sharing) | x fewer "
        "| published #Params | published bit-OPs (G) | sharing / published |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def add(name, tau, model_cost, base, published):
        mbit, gops = _reference(published, tau)
        # The published BNN rows count plain bit-OPs; the sub-bit rows the sharing estimate.
        ours = model_cost.bit_ops if tau == 9 else model_cost.shared_bit_ops
        ratio = f"{ours / 1e9 / float(gops):.2f}" if gops else ""
        lines.append(
            f"| {name} | {tau} | {model_cost.binary_mbit:.4f} | {base.binary_mbit / model_cost.binary_mbit:.2f} "
            f"| {model_cost.bit_ops / 1e9:.4f} G | {model_cost.shared_bit_ops / 1e9:.4f} G "
            f"| {base.bit_ops / model_cost.shared_bit_ops:.2f} | {mbit} | {gops} | {ratio} |"
        )

    for name, build, published in (
        ("ResNet-18 (ImageNet, tfbin.zoo.resnet18)", lambda tau: zoo.resnet18(conv="snn", tau=tau),
         SNN_README_RESNET18),
        ("ResNet-20 (CIFAR, 18 binary convs)", resnet20_standard, {}),
    ):
        base = None
        for tau in taus:
            model_cost = cost.model_cost(build(tau))
            base = base or model_cost
            add(name, tau, model_cost, base, published)
            tf.keras.backend.clear_session()
            print(lines[-1], flush=True)
    base = None
    for tau in resnet50_taus:
        model_cost = cost.model_cost(resnet50_cifar(tau, min(tau, 8)))
        base = base or model_cost
        add("ResNet-50 (CIFAR, tau' = tau for 1x1, 8 at tau 9)", tau, model_cost, base, SEED_TABLE6_RESNET50)
        tf.keras.backend.clear_session()
        print(lines[-1], flush=True)
    lines += [
        "",
        "Published: ResNet-18 from the SNN code's README (ReActNet-style ResNet-18, ImageNet); ResNet-50 "
        "from Table 6 of the SNN paper (Sub-bit Neural Networks, ICCV 2021; CIFAR-10, IR-Net 1/1 and SNN "
        "0.59/0.47/0.35-bit rows).",
    ]
    return "\n".join(lines) + "\n"


def size_table(taus=SIZE_TAUS):
    """LCE flatbuffer (1 bit per binary weight) against the compact sub-bit file, same models."""
    import larq_compute_engine as lce

    from tfbin.convert.flatbuffer import op_census
    from tfbin.pruning import strip_pruning

    lines = [
        "Untrained weights (sizes do not depend on them). LCE: `lce.convert_keras_model` of the stripped "
        "model; every sub-bit layer is an LceBconv2d at 1 bit per weight. Compact: `tfbin.subbit` "
        "(sub-bit part: tau-bit indices, codebooks, per-channel float32 scales; float32 part: stem, "
        "classifier, shortcuts, BatchNorm).",
        "",
        "| model | tau | LCE flatbuffer (B) | LceBconv2d | compact file (B) | of which sub-bit (B) "
        "| of which float32 (B) | compact / LCE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, build in (("ResNet-18 (ImageNet)", lambda tau: zoo.resnet18(conv="snn", tau=tau)),
                        ("ResNet-20 (CIFAR, 18 binary convs)", resnet20_standard)):
        for tau in taus:
            model = build(tau)
            tflite = lce.convert_keras_model(strip_pruning(model))
            data = subbit.to_bytes(model)
            parts = subbit.describe(data)
            lines.append(
                f"| {name} | {tau} | {len(tflite):,} | {op_census(tflite).get('LceBconv2d', 0)} | {len(data):,} "
                f"| {parts['subbit_bytes']:,} | {parts['float32_bytes']:,} | {len(data) / len(tflite):.2f} |"
            )
            print(lines[-1], flush=True)
            tf.keras.backend.clear_session()
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=16, help="digits upsampled to this size (8 to 32)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="score a held-out quarter of the training split (and report test accuracy "
                             "alongside), or the test split")
    parser.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), choices=ROWS)
    parser.add_argument("--t-min", type=float, default=0.1, help="ErrorDecay's T_min")
    parser.add_argument("--t-max", type=float, default=10.0, help="ErrorDecay's T_max")
    parser.add_argument("--refine-every", type=int, default=25, help="RefineCodebooks' update_every")
    parser.add_argument("--codebook-init", type=float, default=1.0,
                        help="magnitude of the codebooks' real copies (SubBitConv2D codebook_init)")
    parser.add_argument("--skip-training", action="store_true", help="only the cost tables")
    parser.add_argument("--skip-costs", action="store_true", help="no cost tables")
    parser.add_argument("--sizes", action="store_true",
                        help="also convert ResNet-18 and ResNet-20 with LCE and compare file sizes (slow)")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="writes snn_accuracy_<image size>_<epochs>ep.md, snn_costs.md and snn_sizes.md here")
    add_quick_flag(parser, "8x8 digits, width 4, 1 epoch, refinement every step, the first seed, rows "
                           + ", ".join(QUICK_ROWS) + " unless --rows is given, " + QUICK_DIGITS + "; cost and size tables at tau "
                           + " and ".join(map(str, QUICK_TAUS)) + " only (each tau builds full-size networks)")
    args = parser.parse_args(argv)
    start_quick(args)
    cost_taus, resnet50_taus, size_taus = COST_TAUS, RESNET50_TAUS, SIZE_TAUS
    if args.quick:
        args.image_size, args.width, args.epochs, args.seeds = 8, 4, 1, args.seeds[:1]
        args.refine_every = 1
        if args.rows == list(DEFAULT_ROWS):
            args.rows = list(QUICK_ROWS)
        cost_taus = resnet50_taus = size_taus = QUICK_TAUS

    if not args.skip_training:
        command = "python benchmarks/snn.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        print_and_save(f"## Accuracy on digits at {args.image_size}x{args.image_size}\n\n" + accuracy_table(args)
                       + f"\nCommand: `{command}`\n",
                       os.path.join(args.out_dir, f"snn_accuracy_{args.image_size}_{args.epochs}ep.md"))
    if not args.skip_costs:
        print_and_save("## #Params and bit-OPs (the SNN paper's conventions)\n\n"
                       + cost_table(cost_taus, resnet50_taus),
                       os.path.join(args.out_dir, "snn_costs.md"))
    if args.sizes:
        print_and_save("## File sizes: LCE flatbuffer and the compact sub-bit file\n\n" + size_table(size_taus),
                       os.path.join(args.out_dir, "snn_sizes.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
