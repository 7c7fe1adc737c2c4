"""STQ-Nets: deployed ResNet-18 at PFR 0 to 0.75, and digits accuracy of BNN vs STQ-A vs STQ-B.

Part `resnet18`: ResNet-18 at 224x224 (`tfbin.zoo.resnet18`), as a BNN and
pruned by STQ-A to PFR 0.25, 0.5 and 0.75 (one global |gamma| threshold,
filters kept in steps of 32, `tfbin.stq.prune_filters`), and STQ-B expander
masks with compression 2 and 4. Two residual layouts:

- `basic`: two binary convolutions per shortcut. STQ-A prunes the filters of
  each block's first convolution, whose channels only the second one reads:
  both convolutions shrink and nothing is added to the graph.
- `bireal`: one binary convolution per shortcut (the zoo's default). Every
  pruned filter's channel feeds the residual addition, so the export
  scatters the surviving channels back among constants (PAD, GATHER, ADD).

Every model is converted the way users deploy it (`tfbin.convert.convert`:
masked filters removed, zero float fallbacks, parity checked on 8 inputs),
then all flatbuffers are timed together, round-robin, on one thread with the
LCE interpreter's default binary kernels and with its indirect BGEMM kernels
(`use_indirect_bgemm=True`). Nets are untrained; BatchNorm gets trained-like
values (`tfbin.testing.realistic_weights`), so STQ-A prunes a random-like
set of filters of every layer; size and latency do not depend on which.
Next to each latency: the paper's expectation (1 - PFR) x the BNN's.

Part `digits`: the digits residual net (`tfbin.zoo.digits_resnet`, two-
convolution blocks) trained for the same epochs as a BNN, with STQ-A (L1 on
the BatchNorm scales, prune to PFR 0.5 at mid-run, fine-tune) and with
STQ-B (expander compression 2, PFR 0.5), over seeds: mean and std of test
accuracy (BatchNorm moving statistics).

    python benchmarks/stq.py                          # both parts, ~30 minutes on 2 cores
    python benchmarks/stq.py --part resnet18 --json   # one JSON list of ResNet-18 rows
    python benchmarks/stq.py --part digits --width 16 --epochs 30 --seeds 0 1 2

`--archs` also takes `bottleneck` (ResNet-18's stages of 1x1-3x3-1x1 blocks:
STQ-A prunes the 1x1 reduction and the 3x3 convolution, whose channels only
the next convolution reads). It does not take `reactnet`: a per-channel scale
sits between its binary convolutions and their BatchNorm, whose gamma STQ-A
ranks filters by (`tfbin.stq.prune_filters`). `--quick` makes any of these
commands a smoke run (see `--help`).

Prints and saves Markdown tables (benchmarks/results/stq_resnet18.md and
stq_digits.md by default). LCE runs portable binary kernels on x86; time the
flatbuffers on an ARM device (`tfbin bench --ssh/--adb`) for deployment figures.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

import larq as lq
import larq_compute_engine as lce

from common import QUICK_DIGITS, add_quick_flag, print_and_save, quick_digits, start_quick
from tfbin import cost, data, graph, shrink, stq, training, zoo
from tfbin.convert import convert, flatbuffer_cost, measure_parity, op_census
from tfbin.demo import stq as stq_demo
from tfbin.files import write_atomic
from tfbin.testing import realistic_weights

RESULTS = os.path.join(os.path.dirname(__file__), "results")
PFRS = (0.25, 0.5, 0.75)
COMPRESSIONS = (2, 4)
KERNELS = {"default": {}, "indirect": {"use_indirect_bgemm": True}}
# The zoo blocks whose binary convolutions a BatchNormalization alone reads: those STQ-A can prune.
ARCHS = ("bireal", "basic", "bottleneck")
DEFAULT_ARCHS = ("bireal", "basic")
INPUT_SIZE, QUICK_INPUT_SIZE = 224, 32
QUICK_PFR, QUICK_COMPRESSION = 0.5, 2
TOLERANCE = 1.15  # the done criterion: latency <= (1 - PFR) x BNN x 1.15


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# -- ResNet-18 -------------------------------------------------------------------


def _variants(archs, pfrs, compressions):
    for arch in archs:
        yield arch, "BNN", None
        for pfr in pfrs:
            yield arch, "STQ-A", pfr
        for compression in compressions:
            yield arch, "STQ-B", compression


def _resnet18(arch, method, setting, x, seed):
    tf.keras.utils.set_random_seed(seed)
    model = zoo.resnet18(input_shape=x.shape[1:], block=arch)
    if method == "BNN":
        return realistic_weights(model, x, seed=seed)
    if method == "STQ-B":
        return realistic_weights(stq.with_masks(model, expander_compression=setting, seed=seed), x, seed=seed)
    model = realistic_weights(stq.with_masks(model), x, seed=seed)
    inner = [layer.name for layer in stq.masked_layers(model) if stq.channel_readers(model, layer)]
    stq.prune_filters(model, setting, layers=inner or None, channel_multiple=32)
    # The same draw again: BatchNorm keeps its values, its statistics follow the pruned net.
    return realistic_weights(model, x, seed=seed)


def _round_robin(flatbuffers, rounds):
    """Latency of every (name, kernel), timed in turns so that load from elsewhere hits all alike.

    Returns {(name, kernel): (wall median, wall min, CPU median)} in ms. One
    thread runs the whole inference in the calling thread, so its CPU time is
    the work done; on a shared machine wall time also counts the waits for a core.
    """
    interpreters = {}
    for (name, kernel), tflite in flatbuffers.items():
        interpreter = Interpreter(tflite, num_threads=1, **KERNELS[kernel])
        x = np.random.default_rng(0).standard_normal((1, *interpreter.input_shapes[0][1:])).astype(np.float32)
        interpreter.predict(x)
        interpreters[name, kernel] = (interpreter, x)
    wall = {key: [] for key in interpreters}
    cpu = {key: [] for key in interpreters}
    for _ in range(rounds):
        for key, (interpreter, x) in interpreters.items():
            cpu_start, start = time.thread_time(), time.perf_counter()
            interpreter.predict(x)
            wall[key].append((time.perf_counter() - start) * 1e3)
            cpu[key].append((time.thread_time() - cpu_start) * 1e3)
    return {key: (float(np.median(wall[key])), float(np.min(wall[key])), float(np.median(cpu[key])))
            for key in interpreters}


def _grouped(model):
    """STQ-B as grouped binary convolutions: SelectChannels(group order) + one QuantConv2D(groups=c).

    A measurement-only variant: LCE's default kernel refuses grouped binary
    convolutions, so `tfbin.convert.convert` (whose parity check runs it)
    cannot take it; here it is converted and checked with the indirect BGEMM kernel.
    """

    def replace(layer):
        if not isinstance(layer, stq.MaskedQuantConv2D):
            return None
        mask = tf.keras.backend.get_value(layer.filter_mask)
        groups = shrink.filter_groups(layer, mask)
        order = [c for rows, _ in groups for c in rows]
        latent = tf.keras.backend.get_value(layer.kernel.latent_variable)
        kernel = np.concatenate([latent[:, :, list(rows)][..., outs] for rows, outs in groups], axis=-1)
        conv = lq.layers.QuantConv2D.from_config({**layer.quant_conv_config(), "groups": len(groups)})
        select = shrink.SelectChannels(order, name=f"{layer.name}_in")

        def apply(inputs):
            outputs = conv(select(inputs))
            conv.set_weights([kernel])
            return outputs

        return apply

    return graph.rewrite(model, replace)


def _agreement_between_kernels(tflite, x):
    """Max |default - indirect| over the outputs on `x`."""
    outputs = [Interpreter(tflite, num_threads=1, **options).predict(x) for options in KERNELS.values()]
    return float(np.max(np.abs(outputs[0] - outputs[1])))


def _row(name, arch, method, model, tflite, parity, fallbacks, binary):
    model_cost = cost.model_cost(model)
    return {
        "model": name,
        "arch": arch,
        "method": method,
        "pfr": float(model_cost.pfr or 0.0),
        "size_bytes": len(tflite),
        "argmax_agreement": parity.argmax_agreement,
        "p90_rel_error": parity.p90_rel_error,
        "float_fallbacks": fallbacks,
        "binary_layers": binary,
        "bit_ops": model_cost.bit_ops,
        "flatbuffer_bit_ops": flatbuffer_cost(tflite)["bit_ops"],
        "census": op_census(tflite),
    }


def resnet18_rows(args):
    size = args.input_size
    x = np.random.default_rng(args.seed).standard_normal((8, size, size, 3)).astype(np.float32)
    rows, flatbuffers = [], {}
    for arch, method, setting in _variants(args.archs, args.pfrs, args.compressions):
        start = time.perf_counter()
        model = _resnet18(arch, method, setting, x, args.seed)
        result = convert(model, calibration_data=x)
        label = "" if setting is None else (f" c={setting}" if method == "STQ-B" else f" {setting:g}")
        name = f"resnet18-{arch} {method}{label}"
        rows.append(_row(name, arch, method, model, result.tflite, result.parity, len(result.float_fallbacks),
                         result.binary_layers))
        rows[-1]["kernel_max_abs_diff"] = _agreement_between_kernels(result.tflite, x[:2])
        for kernel in KERNELS:
            flatbuffers[name, kernel] = result.tflite
        log(f"{name:<34} PFR {rows[-1]['pfr']:.3f}  {result.size_bytes / 1e6:6.2f} MB  "
            f"agreement {result.parity.argmax_agreement:.3f}  ({time.perf_counter() - start:.0f} s)")
        if method == "STQ-B" and arch == args.archs[0]:
            # The same masks as one grouped binary convolution per layer, when LCE can take it.
            tflite = lce.convert_keras_model(_grouped(model))
            census = op_census(tflite)
            floats = census.get("CONV_2D", 0) - rows[0]["census"].get("CONV_2D", 0)
            name = f"resnet18-{arch} STQ-B c={setting} grouped"
            if floats:
                log(f"{name:<34} LCE made {floats} float convolution(s) of it (per-group channels not a "
                    "multiple of 32): not timed")
                args.notes.append(f"{name}: LCE kept {floats} grouped layer(s) as float CONV_2D (input channels "
                                  "per group not a multiple of 32), said so only on stderr; not timed.")
                continue
            candidate = Interpreter(tflite, num_threads=1, **KERNELS["indirect"]).predict(x)
            parity = measure_parity(model.predict(x, verbose=0), candidate)
            rows.append(_row(name, arch, "STQ-B grouped", model, tflite, parity, floats, result.binary_layers))
            flatbuffers[name, "indirect"] = tflite
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        for (name, _), tflite in flatbuffers.items():
            write_atomic(os.path.join(args.save, name.replace(" ", "_").replace("=", "") + ".tflite"), tflite)
    log(f"timing {len(flatbuffers)} (flatbuffer, kernel) pairs, {args.rounds} rounds ...")
    timings = _round_robin(flatbuffers, args.rounds)
    for row in rows:
        bnn = f"resnet18-{row['arch']} BNN"
        for kernel in KERNELS:
            if (row["model"], kernel) not in timings:
                continue
            wall, fastest, cpu = timings[row["model"], kernel]
            bnn_wall, _, bnn_cpu = timings[bnn, kernel]
            row.update({
                f"latency_{kernel}_ms": wall,
                f"min_{kernel}_ms": fastest,
                f"cpu_{kernel}_ms": cpu,
                f"expected_{kernel}_ms": (1 - row["pfr"]) * bnn_wall,
                f"ratio_{kernel}": wall / bnn_wall,
                f"cpu_ratio_{kernel}": cpu / bnn_cpu,
            })
        row["latency_ms"] = row.get("latency_default_ms", row.get("latency_indirect_ms"))
    return rows


def _fit(rows, arch, kernel, key):
    """Least squares latency = fixed + per-bit-op x bit-OPs over an arch's BNN and STQ-A rows."""
    points = [(r["bit_ops"], r[key]) for r in rows
              if r["arch"] == arch and r["method"] in ("BNN", "STQ-A") and key in r]
    bit_ops, ms = np.array(points, dtype=float).T
    slope, fixed = np.polyfit(bit_ops, ms, 1)
    residual = ms - (fixed + slope * bit_ops)
    return fixed, slope, float(np.max(np.abs(residual)))


def resnet18_table(rows, args):
    lines = [
        f"# STQ-Nets: ResNet-18 at {args.input_size}x{args.input_size}, PFR 0 to 0.75",
        "",
        f"`python benchmarks/stq.py --part resnet18 --rounds {args.rounds}{' --quick' if args.quick else ''}` on "
        f"{platform.machine()} ({os.cpu_count()} cores, shared), LCE interpreter, 1 thread; all flatbuffers timed "
        f"round-robin in one run, {args.rounds} runs each. Untrained nets with trained-like BatchNorm; STQ-A keeps filters "
        "in steps of 32 (`channel_multiple=32`) and, in `basic` nets, prunes the first convolution of each block.",
        "",
        "Kernels: `default` = LCE's default binary kernels (what `tfbin bench` and `lce_benchmark_model` use); "
        "`indirect` = `use_indirect_bgemm=True`. Latency: wall-clock median (ms) and, in brackets, the median "
        "CPU time of the inference thread: on this shared 2-core machine wall time also counts waits for a "
        "core. `/ BNN`: wall (CPU) ratio to the same layout's BNN with the same kernel; the paper expects "
        "1 - PFR, and the target is <= (1 - PFR) x 1.15.",
        "",
        "| model | PFR | LceBconv2d | other ops | bit-OPs (M) | size (MB) | size / BNN | default ms (CPU) "
        "| / BNN | indirect ms (CPU) | / BNN | argmax agreement | float fallbacks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def latency(row, kernel):
        if f"latency_{kernel}_ms" not in row:
            return "not runnable", "-"
        return (f"{row[f'latency_{kernel}_ms']:.1f} ({row[f'cpu_{kernel}_ms']:.1f})",
                f"{row[f'ratio_{kernel}']:.3f} ({row[f'cpu_ratio_{kernel}']:.3f})")

    for row in rows:
        bnn = next(r for r in rows if r["arch"] == row["arch"] and r["method"] == "BNN")
        bconv = row["census"].get("LceBconv2d", 0)
        other = sum(row["census"].values()) - bconv
        default, default_ratio = latency(row, "default")
        indirect, indirect_ratio = latency(row, "indirect")
        lines.append(
            f"| {row['model']} | {row['pfr']:.3f} | {bconv} | {other} | {row['bit_ops'] / 1e6:,.0f} "
            f"| {row['size_bytes'] / 1e6:.2f} | {row['size_bytes'] / bnn['size_bytes']:.3f} "
            f"| {default} | {default_ratio} | {indirect} | {indirect_ratio} "
            f"| {row['argmax_agreement']:.3f} | {row['float_fallbacks']} |"
        )
    lines += ["", "Operators besides LceBconv2d:", ""]
    for row in rows:
        lines.append(f"- {row['model']}: " + ", ".join(
            f"{op} {n}" for op, n in sorted(row["census"].items()) if op != "LceBconv2d"))
    lines += ["", "Latency = fixed + slope x bit-OPs, least squares over each layout's BNN and STQ-A rows "
              "(the fixed part is what pruning binary filters cannot touch: the float stem, shortcuts, "
              "pooling, classifier, and per-layer overheads):", ""]
    for arch in args.archs:
        for kernel in KERNELS:
            for key, what in ((f"latency_{kernel}_ms", "wall"), (f"cpu_{kernel}_ms", "CPU")):
                fixed, slope, worst = _fit(rows, arch, kernel, key)
                bnn = next(r for r in rows if r["arch"] == arch and r["method"] == "BNN")
                lines.append(f"- {arch}, {kernel} kernels, {what}: fixed {fixed:.1f} ms "
                             f"({fixed / bnn[key]:.0%} of the BNN), {slope * 1e9:.1f} ms per G bit-OPs, "
                             f"largest residual {worst:.1f} ms")
    lines += ["", "Target (STQ-A at PFR ~0.5): parity, no float fallback, smaller than the BNN, latency <= "
              "(1 - PFR) x BNN x 1.15:", ""]
    for row in rows:
        if row["method"] != "STQ-A" or abs(row["pfr"] - 0.5) >= 0.05:
            continue
        bnn = next(r for r in rows if r["arch"] == row["arch"] and r["method"] == "BNN")
        bound = (1 - row["pfr"]) * TOLERANCE
        verdicts = [
            f"{kernel} {what} {row[key]:.3f} {'<=' if row[key] <= bound else '>'} {bound:.3f}"
            for kernel in KERNELS
            for key, what in ((f"ratio_{kernel}", "wall"), (f"cpu_ratio_{kernel}", "CPU"))
        ]
        lines.append(
            f"- {row['model']} (PFR {row['pfr']:.3f}): argmax agreement {row['argmax_agreement']:.3f}, "
            f"{row['float_fallbacks']} float fallbacks, size {row['size_bytes'] / bnn['size_bytes']:.3f} x BNN; "
            "latency / BNN: " + ", ".join(verdicts) + "."
        )
    worst = max(row.get("kernel_max_abs_diff", 0.0) for row in rows)
    lines += ["", f"- The default and indirect kernels give the same outputs up to {worst:.2g} "
              "(max |difference| on 2 inputs, every converted model)."]
    lines += [f"- {note}" for note in args.notes] + [""]
    return "\n".join(lines)


# -- digits -----------------------------------------------------------------------


def digits_run(name, arrays, args, seed):
    tf.keras.utils.set_random_seed(seed)
    model = stq_demo.build_model(name, arrays.x_train.shape[1:], 10, args.width, seed=seed)
    training.train(model, arrays, args.epochs, callbacks=stq_demo.stq_callbacks(name, args.epochs),
                   decay=args.decay, verbose=0)
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    model_cost = cost.model_cost(model)
    return accuracy, float(model_cost.pfr or 0.0), model_cost.bit_ops


def digits_file(image_size):
    """stq_digits.md for 8x8 digits, stq_digits_<size>.md for upsampled ones."""
    return "stq_digits.md" if image_size == 8 else f"stq_digits_{image_size}.md"


def digits_table(args):
    arrays = data.digits_arrays(image_size=args.image_size)
    if args.quick:
        arrays = quick_digits(arrays)
        start_quick(args)  # here, not in main: only training gains from it, conversions do not
    results = {}
    for name in stq_demo.ROWS:
        accuracies = []
        for seed in args.seeds:
            start = time.perf_counter()
            accuracy, pfr, bit_ops = digits_run(name, arrays, args, seed)
            accuracies.append(accuracy)
            log(f"{name:<6} seed {seed}: accuracy {accuracy:.4f}  PFR {pfr:.3f}  bit-OPs {bit_ops:,}  "
                f"({time.perf_counter() - start:.0f} s)")
        results[name] = (np.mean(accuracies), np.std(accuracies), accuracies, pfr, bit_ops)
    half = stq_demo.phases(args.epochs)["start_epoch"]
    lines = [
        "# STQ-Nets on digits: BNN vs STQ-A vs STQ-B",
        "",
        f"`python benchmarks/stq.py --part digits --image-size {args.image_size} --width {args.width} "
        f"--epochs {args.epochs}"
        f"{' --decay' if args.decay else ''}{' --quick' if args.quick else ''} "
        f"--seeds {' '.join(map(str, args.seeds))}`: "
        f"`tfbin.zoo.digits_resnet(width={args.width}, block=\"basic\")`, {args.epochs} epochs each, Bop + Adam"
        f"{', eta and gamma decaying linearly' if args.decay else ''}. STQ-A: L1 {stq_demo.L1_STRENGTH:g} on the "
        f"BatchNorm scales, pruned to PFR {stq_demo.TARGET_PFR} at the start of epoch {half}, then fine-tuned; "
        f"STQ-B: expander masks, compression 2. Digits at {args.image_size}x{args.image_size}; test accuracy with "
        "BatchNorm moving statistics.",
        "",
        "| model | PFR | bit-OPs | test accuracy mean | std | per seed |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, (mean, std, accuracies, pfr, bit_ops) in results.items():
        lines.append(f"| {name} | {pfr:.3f} | {bit_ops:,} | {mean:.4f} | {std:.4f} | "
                     + ", ".join(f"{a:.4f}" for a in accuracies) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("resnet18", "digits", "both"), default="both")
    parser.add_argument("--json", action="store_true",
                        help="print the ResNet-18 rows as one JSON list (model, pfr, size_bytes, latency_ms, "
                             "argmax_agreement, ...) instead of the tables")
    parser.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS),
                        help="ResNet-18 residual layouts (zoo blocks STQ-A can prune; default: bireal basic)")
    parser.add_argument("--rounds", type=int, default=20, help="timed runs per flatbuffer and kernel")
    parser.add_argument("--seed", type=int, default=0, help="ResNet-18 weights and inputs")
    parser.add_argument("--width", type=int, default=16, help="digits net width")
    parser.add_argument("--image-size", type=int, default=8, help="digits upsampled to this size (8 to 32)")
    parser.add_argument("--epochs", type=int, default=30, help="digits epochs per model")
    parser.add_argument("--decay", action="store_true", help="decay eta and Bop's gamma linearly over the run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="digits seeds")
    parser.add_argument("--out", default=RESULTS, help="folder for stq_resnet18.md and stq_digits[_<image size>].md")
    parser.add_argument("--save", help="also write the ResNet-18 flatbuffers to this folder (to time on a device)")
    add_quick_flag(parser, f"ResNet-18 at {QUICK_INPUT_SIZE}x{QUICK_INPUT_SIZE} instead of {INPUT_SIZE}x{INPUT_SIZE}, "
                           f"one PFR ({QUICK_PFR}) and one compression ({QUICK_COMPRESSION}) per layout (each "
                           "conversion takes seconds even then), 1 timed round; digits width 4, 2 epochs, the first "
                           "seed, " + QUICK_DIGITS)
    args = parser.parse_args(argv)
    args.notes = []
    if min(args.rounds, args.width, args.epochs) < 1:
        parser.error("--rounds, --width and --epochs must be >= 1")
    args.input_size, args.pfrs, args.compressions = INPUT_SIZE, PFRS, COMPRESSIONS
    if args.quick:
        args.input_size, args.pfrs, args.compressions = QUICK_INPUT_SIZE, (QUICK_PFR,), (QUICK_COMPRESSION,)
        args.rounds, args.width, args.epochs, args.seeds = 1, 4, 2, args.seeds[:1]
    if args.part in ("resnet18", "both"):
        rows = resnet18_rows(args)
        table = resnet18_table(rows, args)
        if args.json:
            print(json.dumps(rows))
            os.makedirs(args.out, exist_ok=True)
            write_atomic(os.path.join(args.out, "stq_resnet18.md"), table.encode())
        else:
            print_and_save(table, os.path.join(args.out, "stq_resnet18.md"))
    if args.part in ("digits", "both"):
        table = digits_table(args)
        if args.json:
            os.makedirs(args.out, exist_ok=True)
            write_atomic(os.path.join(args.out, digits_file(args.image_size)), table.encode())
        else:
            print_and_save(table, os.path.join(args.out, digits_file(args.image_size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
