"""The OpenVINO columns of benchmarks/deploy.py: x86 latency of LCE/TFLite and OpenVINO side by side.

For each net and each of BNN, BNN + int8 float layers, MBN 2/2, MBN 3/3, float and int8, the model
(built exactly as deploy.py's LCE rows build it) is converted twice: with
LCE (`tfbin.convert.convert`; float and int8 TFLite through
`tfbin.convert.baselines`) and for OpenVINO (`tfbin.convert.convert_openvino`;
float32 and NNCF int8 through `tfbin.convert.openvino_baselines`), parity
checked on the way. All of a net's models are then loaded at once and timed
on one thread in interleaved rounds (every model runs one untimed inference
and a few timed ones, then the next, in a new random order each round), so
that load from other processes on a shared machine hits all of them alike;
the whole timing is repeated `--passes` times and each pass's medians and
ratios are kept, to show the spread.

The BNN is converted a third time, by the per-layer translator that
`convert_openvino` used before it rode OpenVINO's TensorFlow frontend (loaded
from git at `--previous`, as benchmarks/openvino_frontend.py does), and timed
in the same rounds: the table gives the ratio new / old per pass.

Run through deploy.py: `python benchmarks/deploy.py --openvino --passes 3`.
"""
import platform
import os
import time

import numpy as np

from common import cpu_flags, print_and_save

# The BNN with its float layers in int8 (convert / convert_openvino with float_layers="int8").
BNN_INT8 = "BNN + int8 float layers"
VARIANTS = ("BNN", BNN_INT8, "MBN 2/2", "MBN 3/3", "float", "int8")
# Inferences per model per round, and rounds per pass; ResNet-18 needs fewer.
PER_ROUND = {"small": 5, "large": 2}
ROUNDS = {"small": 8, "large": 5}


def _convert_both(model, variant, x):
    from tfbin.convert import baselines, convert, convert_openvino
    from tfbin.convert.openvino_baselines import openvino_baseline

    if variant in ("float", "int8"):
        return baselines.baseline(variant, model, x), openvino_baseline(variant, model, x)
    if variant == BNN_INT8:
        # Untrained nets on random inputs: agreement reported, not held.
        return (convert(model, calibration_data=x, float_layers="int8", min_agreement=1e-9),
                convert_openvino(model, calibration_data=x, float_layers="int8", min_agreement=1e-9))
    return convert(model, calibration_data=x), convert_openvino(model, calibration_data=x)


def _lce_runner(tflite, x, threads):
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(tflite, num_threads=threads)
    return lambda: interpreter.predict(x)


def _openvino_runner(ir, x, args):
    """A runner of `ir` on `args.threads` at `args.precision`.

    The precision OpenVINO chose goes to `args.ran_precisions`.
    """
    from tfbin.convert.openvino_runtime import compile_openvino

    compiled = compile_openvino(ir, threads=args.threads, batch=1, precision=args.precision)
    # A CPU without bf16 runs a bf16 request in f32: the table says what ran.
    args.ran_precisions.add(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
    request = compiled.create_infer_request()
    return lambda: request.infer({0: x})


def _previous_translator(model, today, x, args):
    """(the previous translator's OpenVINO model of `model`, max |its outputs - `today`'s| on `x`)."""
    from openvino_frontend import previous_converter
    from tfbin.convert.openvino_runtime import openvino_predict

    previous = previous_converter(args.previous).to_openvino(model)
    difference = float(np.abs(openvino_predict(previous, x) - openvino_predict(today, x)).max())
    return previous, difference


def _interleaved(runners, rounds, per_round, seed=0):
    """Median milliseconds of each runner, timed round-robin in a new random order every round.

    The model before a runner leaves the caches full of its own weights: the
    OpenVINO BNN's first inference after LCE's ran about 7% slower on
    ResNet-18, and in a fixed order it kept a 3-4% handicap against the next
    runner even with that inference untimed. So each runner's first
    inference in a round is not timed, and the order changes every round.
    """
    names = list(runners)
    order = np.random.default_rng(seed)
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for index in order.permutation(len(names)):
            name = names[index]
            runners[name]()  # untimed
            for _ in range(per_round):
                start = time.perf_counter()
                runners[name]()
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def measure_net(net, builder, shape, samples, build, args):
    x = np.random.default_rng(args.seed).standard_normal((samples, *shape)).astype(np.float32)
    size = "large" if shape[0] > 64 else "small"
    rows, runners = {}, {}
    for variant in [v for v in VARIANTS if v in args.variants or v in ("BNN", "int8")]:
        model = build(builder, shape, variant, x, args.seed)
        start = time.perf_counter()
        lce, ov = _convert_both(model, variant, x)
        seconds = time.perf_counter() - start
        rows[variant] = {
            "net": net, "variant": variant, "convert_s": seconds,
            "lce_size": lce.size_bytes, "ov_size": ov.size_bytes,
            "ov_census": ov.census, "ov_kernels": getattr(ov, "kernels", {}),
            "lce_agreement": lce.parity.argmax_agreement, "ov_agreement": ov.parity.argmax_agreement,
            "ov_p90": ov.parity.p90_rel_error,
            "ov_allowed": None if "int8" in variant else ov.parity.allowed()[1],
        }
        runners[(variant, "lce")] = _lce_runner(lce.tflite, x[:1], args.threads)
        runners[(variant, "ov")] = _openvino_runner(ov.model, x[:1], args)
        if variant == "BNN":
            previous = _previous_translator(model, ov.model, x, args)
            rows[variant]["ov_previous_difference"] = previous[1]
            runners[(variant, "ov_previous")] = _openvino_runner(previous[0], x[:1], args)
        print(f"{net:<15} {variant:<8} converted both ways in {seconds:.0f} s "
              f"(agreement LCE {lce.parity.argmax_agreement:.3f}, OpenVINO {ov.parity.argmax_agreement:.3f})",
              flush=True)
    passes = []
    args.load = getattr(args, "load", []) + [os.getloadavg()[0]]
    for index in range(args.passes):
        rounds, per_round = (1, 1) if args.quick else (ROUNDS[size], PER_ROUND[size])
        medians = _interleaved(runners, rounds, per_round, seed=index)
        passes.append(medians)
        print(f"{net:<15} pass {index + 1}: " + ", ".join(
            f"{variant} {engine} {medians[(variant, engine)]:.2f} ms" for variant, engine in runners), flush=True)
    for variant, row in rows.items():
        row["lce_ms"] = [p[(variant, "lce")] for p in passes]
        row["ov_ms"] = [p[(variant, "ov")] for p in passes]
    rows["BNN"]["ov_previous_ms"] = [p[("BNN", "ov_previous")] for p in passes]
    return list(rows.values())


def _command(args):
    command = f"python benchmarks/deploy.py --openvino --passes {args.passes}"
    if args.threads != 1:
        command += f" --threads {args.threads}"
    if args.precision != "f32":
        command += f" --precision {args.precision}"
    if list(args.nets) != args.all_nets:
        command += " --nets " + " ".join(f'"{net}"' for net in args.nets)
    if set(args.variants) != set(VARIANTS):
        command += " --variants " + " ".join(f'"{v}"' if " " in v else v for v in args.variants)
    if args.previous != args.default_previous:
        command += f" --previous {args.previous}"
    if args.quick:
        command += " --quick"
    if args.named_out:
        command += f" --out {os.path.relpath(args.named_out)}"
    return command


def _spread(values):
    return f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def markdown(rows, args):
    lines = [
        "# x86 deployment: LCE/TFLite and OpenVINO side by side",
        "",
        f"`{_command(args)}` on {platform.machine()} "
        f"({os.cpu_count()} cores, {platform.processor() or 'x86-64'}; CPU flags: {cpu_flags()}), "
        f"{args.threads} thread(s), OpenVINO's float layers in {' and '.join(sorted(args.ran_precisions))} "
        f"(asked: {args.precision}; its `INFERENCE_PRECISION_HINT`, which binary and int8 layers ignore). "
        "Every model of a net was loaded at once and timed in interleaved rounds, in a new random order each round, "
        "its first inference in each round untimed (caches cold after the model before it); each latency is the median "
        f"over {args.passes} timing passes of each pass's median, with the range over passes in parentheses. "
        "Untrained nets with trained-like BatchNorm (as in deploy.md). LCE/TFLite: LCE's interpreter "
        "(BNN and MBN through LCE's portable x86 kernels, float and int8 through TFLite's). OpenVINO: "
        "`tfbin.convert.convert_openvino` (OpenVINO's TensorFlow frontend, then a rewrite pass that turns binary "
        "convolutions into BinaryConvolution) and, for float and int8, the same architecture in float32 and "
        "after NNCF post-training quantization. "
        f"Load average when each net's timing began: {', '.join(f'{load:.1f}' for load in args.load)} "
        "(other processes share the machine; compare ratios within a pass, not absolute times).",
        "",
        "| net | variant | LCE/TFLite (ms) | OpenVINO (ms) | OpenVINO / LCE | OpenVINO size (MB) "
        "| OpenVINO BinaryConvolution kernels | OpenVINO agreement | OpenVINO p90 rel. error (allowed) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        kernels = ", ".join(f"{n} {k}" for k, n in row["ov_kernels"].items()) or "-"
        allowed = "not held to one" if row["ov_allowed"] is None else f"<= {row['ov_allowed']:.2g}"
        ratio = np.median(np.divide(row["ov_ms"], row["lce_ms"]))
        lines.append(
            f"| {row['net']} | {row['variant']} | {_spread(row['lce_ms'])} | {_spread(row['ov_ms'])} "
            f"| {ratio:.2f} | {row['ov_size'] / 1e6:.2f} | {kernels} | {row['ov_agreement']:.3f} "
            f"| {row['ov_p90']:.2g} ({allowed}) |"
        )
    lines += ["", "OpenVINO BNN against the fastest int8 model of the same architecture, per timing pass:", ""]
    for net in dict.fromkeys(row["net"] for row in rows):
        group = {row["variant"]: row for row in rows if row["net"] == net}
        bnn, int8 = group["BNN"], group["int8"]
        ratios, names = [], []
        for p in range(args.passes):
            engine, fastest = min((("TFLite", int8["lce_ms"][p]), ("OpenVINO", int8["ov_ms"][p])), key=lambda e: e[1])
            ratios.append(bnn["ov_ms"][p] / fastest)
            names.append(f"{bnn['ov_ms'][p]:.2f} vs {fastest:.2f} ms ({engine} int8)")
        lines.append(
            f"- {net}: OpenVINO BNN / fastest int8 = {np.median(ratios):.2f} median, {min(ratios):.2f}-"
            f"{max(ratios):.2f} over passes ({'; '.join(names)})"
        )
    if any(row["variant"] == BNN_INT8 for row in rows):
        lines += ["", f"{BNN_INT8} against the BNN with its float layers float (same precision), same rounds, "
                      "per timing pass (below 1: int8 float layers are faster):", ""]
        for net in dict.fromkeys(row["net"] for row in rows):
            group = {row["variant"]: row for row in rows if row["net"] == net}
            if BNN_INT8 not in group:
                continue
            for engine, key in (("OpenVINO", "ov_ms"), ("LCE/TFLite", "lce_ms")):
                ratios = np.divide(group[BNN_INT8][key], group["BNN"][key])
                lines.append(f"- {net}, {engine}: BNN + int8 / BNN = {np.median(ratios):.2f} median, "
                             f"{ratios.min():.2f}-{ratios.max():.2f} over passes")
    lines += ["", f"OpenVINO BNN: new converter (frontend + rewrite) against the previous per-layer translator "
              f"(commit {args.previous}), timed in the same rounds, per timing pass:", ""]
    for net in dict.fromkeys(row["net"] for row in rows):
        bnn = next(row for row in rows if row["net"] == net and row["variant"] == "BNN")
        ratios = np.divide(bnn["ov_ms"], bnn["ov_previous_ms"])
        pairs = "; ".join(f"{new:.2f} vs {old:.2f} ms" for new, old in zip(bnn["ov_ms"], bnn["ov_previous_ms"]))
        lines.append(
            f"- {net}: new / old = {np.median(ratios):.2f} median, {ratios.min():.2f}-{ratios.max():.2f} over passes "
            f"({pairs}); max |new - old| outputs {bnn['ov_previous_difference']:.2g}"
        )
    lines.append("")
    return "\n".join(lines)


def openvino_main(args, nets, build):
    """deploy.py --openvino: measures `args.nets` of `nets` ({name: (builder, shape, samples)})."""
    args.all_nets = list(nets)
    args.ran_precisions = set()
    rows = []
    for net in args.nets:
        builder, shape, samples = nets[net]
        rows += measure_net(net, builder, shape, samples, build, args)
    print_and_save(markdown(rows, args), args.out)
    return 0
