"""Deployment size and latency: BNN (float layers float32 or int8), MBN 2/2, MBN 3/3, PaBT-pruned, float and int8.

For a ResNet-18-shaped net at 224x224 and a ResNet-20-shaped net at 32x32
(`tfbin.zoo`), each variant is converted the way users deploy it (LCE through
`tfbin.convert.convert`, parity checked; float and int8 TFLite through
`tfbin.convert.baselines` from the BNN's architecture) and timed with the LCE
interpreter on this host, one thread. Nets are untrained: BatchNorm and scales
get trained-like values (`tfbin.testing.realistic_weights`) so parity means something;
latency and size do not depend on the weights. The PaBT row is the MBN 3/3 net
with one live (m, n) binary convolution per layer, chosen at random per layer,
as PaBT's pruning leaves it.

"per-pair export" rows convert the same MBN nets the way tfbin exported them
before `tfbin.export`'s stacked export: one binary convolution per live (m, n)
pair, summed by ADDs. "binary classifier" is the BNN with its Dense logits
replaced by a binary `QuantDense` (exported as a 1x1 LceBconv2d). Each LCE row
gives the conversion's phase times (strip, LCE, checks, parity).

    python benchmarks/deploy.py                    # a few minutes on 2 x86 cores
    python benchmarks/deploy.py --runs 50 --large-runs 10 --threads 4
    python benchmarks/deploy.py --nets "ResNet-20 @32"   # one net only

LCE's optimized binary kernels are for ARMv8; on x86 it runs portable kernels,
so binary rows are slower here than on a phone or a Raspberry Pi, while float
and int8 use TFLite's optimized x86 kernels. Time the written files on a device
with `tfbin bench --ssh` or `--adb` for deployment figures.

Prints and saves a Markdown table (benchmarks/results/deploy.md by default).

With `--openvino` it measures the x86 deployment instead: BNN, MBN 2/2, MBN 3/3,
float and int8 of both nets, each converted for LCE/TFLite and for OpenVINO
(`tfbin.convert.convert_openvino`, NNCF int8), all timed side by side on one
thread in interleaved rounds, the whole timing repeated `--passes` times,
with the BNN also converted by the previous per-layer OpenVINO translator
(commit `--previous`) for the ratio new / old
(benchmarks/results/deploy_openvino.md; needs `pip install -e ".[openvino]"`):

    python benchmarks/deploy.py --openvino --passes 3
    python benchmarks/deploy.py --openvino --nets "ResNet-18 @224" --variants BNN int8   # the headline ratio
    python benchmarks/deploy.py --openvino --precision bf16   # float layers in bf16 (deploy_openvino_bf16.md)

`--quick` makes any of these a smoke run (see `--help`).
"""
import argparse
import dataclasses
import os
import platform
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
import larq as lq
import tensorflow as tf

from tfbin import export, graph, kinds, zoo
from common import add_quick_flag, cpu_flags, print_and_save
from tfbin.convert import baselines, convert, flatbuffer_cost, time_tflite
from openvino_columns import VARIANTS as OPENVINO_VARIANTS, openvino_main
from openvino_frontend import PREVIOUS as PREVIOUS_OPENVINO
from tfbin.testing import realistic_weights
from tfbin.layers import MultiBaseConv2D
from tfbin.quantizers import ShiftedSign

NETS = {
    # name: (builder, input shape, calibration samples)
    "ResNet-18 @224": (zoo.resnet18, (224, 224, 3), 8),
    "ResNet-20 @32": (zoo.resnet20, (32, 32, 3), 64),
}
# A smoke run's net when --nets names none, its inputs (every net's), calibration samples and DeepLab size.
QUICK_NET, QUICK_SHAPE, QUICK_SAMPLES, QUICK_DEEPLAB = "ResNet-20 @32", (32, 32, 3), 4, (32, 32)
# The smoke run's DeepLab width: the same layers and operators as at the zoo's 64, a sixteenth of the
# weights, and conversions that take half as long.
DEEPLAB_WIDTH, QUICK_DEEPLAB_WIDTH = 64, 16
# The BNN with its float layers (stem, downsampling shortcuts, classifier) in int8: convert(float_layers="int8").
BNN_INT8 = "BNN + int8 float layers"
VARIANTS = (
    "BNN", BNN_INT8, "BNN, binary classifier", "MBN 2/2", "MBN 2/2, per-pair export", "MBN 3/3",
    "MBN 3/3, per-pair export", "PaBT 3/3 -> 1/1", "float", "int8",
)


def _per_pair_rule(stacked_rule):
    """The export before stacking: one QuantConv2D per live (m, n) pair, summed by an Add.

    As then, a BatchNormalization after several pairs folds into their kernels
    and bias, and a layer with one live pair is a plain binary convolution.
    """

    def rule(layer, context):
        if len(layer.live_pairs()) == 1:
            return stacked_rule(layer, context)
        batch_norm = context.foldable_batch_norm(layer)
        scale, bias = 1.0, None
        if batch_norm is not None:
            context.absorb(batch_norm)
            scale, bias = export.batch_norm_affine(batch_norm)
        # One weight base per slice of each activation base's stacked kernel: the per-pair kernels.
        # (With equal thresholds the pairs of one weight base are already added, as before they were not.)
        pairs = [
            (threshold, kernel[..., i * layer.filters : (i + 1) * layer.filters])
            for threshold, kernel, parts in export.stacked_kernels(layer, scale)
            for i in range(parts)
        ]
        convs = []
        for i, (threshold, kernel) in enumerate(pairs):
            conv = lq.layers.QuantConv2D(
                layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                pad_values=layer.pad_values, dilation_rate=layer.dilation_rate, use_bias=bias is not None and i == 0,
                input_quantizer=ShiftedSign(threshold, clip_value=layer.input_quantizer.clip_value),
                name=f"{layer.name}_pair{i}",
            )
            conv.build((None, None, None, kernel.shape[2]))
            conv.set_weights([kernel, np.asarray(bias, np.float32)] if conv.use_bias else [kernel])
            convs.append(conv)
        add = tf.keras.layers.Add(name=f"{layer.name}_sum")
        return lambda inputs: add([conv(inputs) for conv in convs])

    return rule


def _binary_classifier(model):
    def replace(layer):
        if layer.name != "logits":
            return None
        dense = lq.layers.QuantDense(
            layer.units, input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
            name="binary_logits",
        )
        return dense

    return graph.rewrite(model, replace)


def measure_deeplab(size, variant, args):
    """Converts and times the DeepLab-style net at `size` (height, width); one row."""
    shape = (*size, 3)
    x = np.random.default_rng(args.seed).standard_normal((4, *shape)).astype(np.float32)
    tf.keras.utils.set_random_seed(args.seed)
    bases = 1 if variant == "BNN" else int(variant[4])
    scheme = dict(conv="bnn") if variant == "BNN" else dict(conv="mbn", weight_bases=bases, activation_bases=bases)
    width = QUICK_DEEPLAB_WIDTH if args.quick else DEEPLAB_WIDTH
    model = zoo.deeplab(shape, num_classes=19, width=width, **scheme)
    model = realistic_weights(model, x[:2], seed=args.seed)
    result = convert(model, calibration_data=x)
    latency = time_tflite(result.tflite, threads=args.threads, warmup=1, runs=args.large_runs)
    row = {
        "net": f"DeepLab (ResNet-18{'' if width == DEEPLAB_WIDTH else f' width {width}'}, ASPP 1/8/12/18) "
               f"@{size[0]}x{size[1]}", "variant": variant,
        "size_bytes": result.size_bytes, "census": result.census, "median_ms": latency.median_ms,
        "argmax_agreement": result.parity.argmax_agreement, "p90_rel_error": result.parity.p90_rel_error,
        "timings": result.timings,
    }
    print(f"{row['net']} {variant}: {row['size_bytes'] / 1e6:.2f} MB {row['median_ms']:.1f} ms", flush=True)
    return row


def deeplab_markdown(rows):
    lines = [
        "",
        "DeepLab segmentation (`tfbin.zoo.deeplab`: ResNet-18 backbone, last stage dilated by 2, ASPP rates 1, "
        "8, 12, 18, decoder; per-pixel logits for 19 classes):",
        "",
        "| net | variant | LceBconv2d | float CONV_2D | size (MB) | median (ms) | latency / BNN | argmax agreement "
        "| p90 rel. error | conversion (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    bnn = next(row for row in rows if row["variant"] == "BNN")
    for row in rows:
        lines.append(
            f"| {row['net']} | {row['variant']} | {row['census'].get('LceBconv2d', 0)} "
            f"| {row['census'].get('CONV_2D', 0)} | {row['size_bytes'] / 1e6:.2f} | {row['median_ms']:.1f} "
            f"| {row['median_ms'] / bnn['median_ms']:.2f} | {row['argmax_agreement']:.3f} "
            f"| {row['p90_rel_error']:.2g} | {row['timings']['total_s']:.0f} |"
        )
    return "\n".join(lines)


def _pabt_masks(model, seed):
    """One live binary convolution per layer, (m, n) drawn at random: PaBT's end state."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, MultiBaseConv2D):
            mask = np.zeros((layer.weight_bases, layer.activation_bases), np.float32)
            mask[rng.integers(layer.weight_bases), rng.integers(layer.activation_bases)] = 1.0
            layer.mask.assign(mask)
    return model


def _build(builder, shape, variant, x, seed):
    tf.keras.utils.set_random_seed(seed)
    if variant in ("BNN", BNN_INT8, "float", "int8"):
        model = builder(input_shape=shape, conv="bnn")
    elif variant == "BNN, binary classifier":
        model = _binary_classifier(builder(input_shape=shape, conv="bnn"))
    else:
        bases = 2 if variant.startswith("MBN 2/2") else 3
        model = builder(input_shape=shape, conv="mbn", weight_bases=bases, activation_bases=bases)
        if variant.startswith("PaBT"):
            _pabt_masks(model, seed)
    return realistic_weights(model, x[:16], seed=seed)


def measure(net, variant, args):
    builder, shape, samples = args.net_specs[net]
    large = shape[0] > 64
    x = np.random.default_rng(args.seed).standard_normal((samples, *shape)).astype(np.float32)
    model = _build(builder, shape, variant, x, args.seed)
    start = time.perf_counter()
    if variant in ("float", "int8"):
        result = baselines.baseline(variant, model, x)
    elif variant.endswith("per-pair export"):
        mbn = kinds.get_kind("mbn")
        kinds.register_kind(dataclasses.replace(mbn, export=_per_pair_rule(mbn.export)))
        try:
            result = convert(model, calibration_data=x)
        finally:
            kinds.register_kind(mbn)
    elif variant == BNN_INT8:
        # An untrained net on random inputs: its argmax agreement is reported, not held (the digits
        # demo judges int8 float layers on a trained net).
        result = convert(model, calibration_data=x, float_layers="int8", min_agreement=1e-9)
    else:
        result = convert(model, calibration_data=x)
    parity = result.parity
    seconds = time.perf_counter() - start
    runs = args.large_runs if large else args.runs
    latency = time_tflite(result.tflite, threads=args.threads, warmup=1 if large else 3, runs=runs)
    row = {
        "net": net,
        "variant": variant,
        "size_bytes": result.size_bytes,
        "census": result.census,
        **flatbuffer_cost(result.tflite),
        "median_ms": latency.median_ms,
        "min_ms": latency.min_ms,
        "runs": runs,
        "argmax_agreement": parity.argmax_agreement,
        "p90_rel_error": parity.p90_rel_error,
        # int8 is compared with the float model but not held to a tolerance.
        "allowed_p90": None if "int8" in variant else parity.allowed()[1],
        "convert_s": seconds,
        "timings": getattr(result, "timings", {}),
    }
    print(
        f"{net:<15} {variant:<16} {row['size_bytes'] / 1e6:7.2f} MB {row['median_ms']:9.2f} ms "
        f"(convert+parity {seconds:.0f} s, agreement {parity.argmax_agreement:.3f})",
        flush=True,
    )
    return row


def markdown(rows, args):
    lines = [
        "# Deployment: size and latency",
        "",
        f"`python benchmarks/deploy.py` on {platform.machine()} ({os.cpu_count()} cores; CPU flags: {cpu_flags()}), "
        f"LCE interpreter, {args.threads} thread(s); median of {args.runs} runs "
        f"({args.large_runs} for ResNet-18 @224). Untrained nets with trained-like BatchNorm; "
        "float and int8 are the BNN's architecture with full-precision binary layers.",
        "LCE runs portable (non-ARM) binary kernels on x86, so binary rows are slower here than on ARMv8 devices.",
        "",
        "| net | variant | LceBconv2d | other ops | bit-OPs (M) | FLOPs (M) | size (MB) | size / float "
        "| median (ms) | latency / float | latency / BNN | argmax agreement | p90 rel. error (allowed) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    nets = [net for net in NETS if any(row["net"] == net for row in rows)]
    for net in nets:
        group = {row["variant"]: row for row in rows if row["net"] == net}
        fp32, bnn = group["float"], group["BNN"]
        for variant in (v for v in VARIANTS if v in group):
            row = group[variant]
            bconv = row["census"].get("LceBconv2d", 0)
            other = sum(row["census"].values()) - bconv
            allowed = "not held to one" if row["allowed_p90"] is None else f"<= {row['allowed_p90']:.2g}"
            lines.append(
                f"| {net} | {variant} | {bconv} | {other} | {row['bit_ops'] / 1e6:,.1f} | {row['flops'] / 1e6:,.1f} "
                f"| {row['size_bytes'] / 1e6:.2f} | {row['size_bytes'] / fp32['size_bytes']:.3f} "
                f"| {row['median_ms']:.2f} | {row['median_ms'] / fp32['median_ms']:.2f} "
                f"| {row['median_ms'] / bnn['median_ms']:.2f} | {row['argmax_agreement']:.3f} "
                f"| {row['p90_rel_error']:.2g} ({allowed}) |"
            )
    pabt = [row for row in rows if row["variant"].startswith("PaBT")]
    lines += [
        "",
        "LCE conversion time per phase (`tfbin.convert.Conversion.timings`, seconds):",
        "",
        "| net | variant | strip | LCE conversion | checks | parity | total |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        t = row["timings"]
        if t:
            lines.append(
                f"| {row['net']} | {row['variant']} | {t['strip_s']:.1f} | {t['lce_s']:.1f} | {t['checks_s']:.1f} "
                f"| {t['parity_s']:.1f} | {t['total_s']:.1f} |"
            )
    lines += [
        "",
        "Parity is LCE (or TFLite) against Keras on the calibration inputs. Where a row's agreement is "
        "below 0.99 or its error above 0.05, Keras itself moved that much under rounding noise (deep "
        "binary nets flip signs at rounding level), and the allowance is twice that floor "
        "(`tfbin.convert.parity`). int8 is post-training quantization: it differs by design. "
        f"{BNN_INT8}: the BNN with its stem, downsampling shortcuts and classifier as int8 LCE/TFLite "
        "kernels (`float_layers=\"int8\"`), calibrated on the same inputs; its agreement is reported, not held.",
        "PaBT rows have the BNN's binary ops plus one SUB per layer whose surviving activation base has a "
        "nonzero threshold (sign(x - v)): "
        + ", ".join(f"{row['net']}: {row['census'].get('SUB', 0)} SUB" for row in pabt) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed runs for ResNet-20 (default 20)")
    parser.add_argument("--large-runs", type=int, default=5, help="timed runs for ResNet-18 (default 5)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="the table to write (default results/deploy.md, deploy_openvino.md with --openvino)")
    parser.add_argument("--nets", nargs="+", choices=list(NETS), help="default: all")
    parser.add_argument("--deeplab", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=(128, 256),
                        help="input size of the DeepLab rows (default 128 256; the paper uses 512 1024)")
    parser.add_argument("--deeplab-only", action="store_true", help="only the DeepLab rows")
    parser.add_argument("--openvino", action="store_true",
                        help="x86 table: LCE/TFLite and OpenVINO side by side, interleaved, one run")
    parser.add_argument("--passes", type=int, default=3, help="--openvino: timing passes over all models (default 3)")
    parser.add_argument("--variants", nargs="+", choices=OPENVINO_VARIANTS, default=list(OPENVINO_VARIANTS),
                        help="--openvino: the variants (BNN and int8 are always measured)")
    parser.add_argument("--precision", choices=("f32", "bf16"), default="f32",
                        help="--openvino: OpenVINO's inference precision for float layers (default f32; bf16 where "
                        "the CPU has it, as benchmark_app's default there); writes deploy_openvino_bf16.md")
    parser.add_argument("--previous", default=PREVIOUS_OPENVINO,
                        help="--openvino: the commit whose per-layer OpenVINO translator the BNN is also timed with "
                        f"(default {PREVIOUS_OPENVINO}, the last one)")
    add_quick_flag(parser, f"{QUICK_NET} only unless --nets names others, every net at "
                           f"{QUICK_SHAPE[0]}x{QUICK_SHAPE[1]} on {QUICK_SAMPLES} calibration inputs (ResNet-18 "
                           f"conversions at 224x224 take minutes), DeepLab at {QUICK_DEEPLAB[0]}x{QUICK_DEEPLAB[1]} "
                           f"and width {QUICK_DEEPLAB_WIDTH}, "
                           "1 timed run, 1 timing pass of 1 round", trains=False)
    args = parser.parse_args(argv)
    if min(args.runs, args.large_runs, args.threads, args.passes) < 1:
        parser.error("--runs, --large-runs, --threads and --passes must be >= 1")
    args.nets = args.nets or ([QUICK_NET] if args.quick else list(NETS))
    args.net_specs = {net: NETS[net] for net in args.nets}
    if args.quick:
        args.net_specs = {net: (builder, QUICK_SHAPE, QUICK_SAMPLES) for net, (builder, _, _) in args.net_specs.items()}
        args.runs = args.large_runs = args.passes = 1
        args.deeplab = QUICK_DEEPLAB
    results = os.path.join(os.path.dirname(__file__), "results")
    if args.openvino:
        args.named_out = args.out
        suffix = "" if args.precision == "f32" else f"_{args.precision}"
        args.out = args.out or os.path.join(results, f"deploy_openvino{suffix}.md")
        args.default_previous = PREVIOUS_OPENVINO
        return openvino_main(args, args.net_specs, _build)
    args.out = args.out or os.path.join(results, "deploy.md")
    rows = [] if args.deeplab_only else [measure(net, variant, args) for net in args.nets for variant in VARIANTS]
    deeplab = [measure_deeplab(tuple(args.deeplab), variant, args) for variant in ("BNN", "MBN 2/2")]
    header = f"`python benchmarks/deploy.py {' '.join(sys.argv[1:])}` on {platform.machine()}, {args.threads} thread(s).\n"
    table = (markdown(rows, args) if rows else header) + deeplab_markdown(deeplab)
    print_and_save(table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
