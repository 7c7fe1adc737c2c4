"""`tfbin convert`: Keras model -> LCE .tflite, refusing float fallbacks and broken parity.

    tfbin convert model.keras -o model.tflite --calibration digits --baseline float --baseline int8

Nothing is written unless everything succeeded.
"""
import json
import sys

from tfbin.choices import BASELINES
from tfbin.cli.args import fail, fraction, load_model_or_exit, positive_float, positive_int, writable_file
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT


def add_parser(commands):
    parser = commands.add_parser(
        "convert", help="convert a Keras model to an LCE .tflite, checking binary ops and parity",
        description="Strip training-only structure, convert with Larq Compute Engine, refuse binary layers "
        "that fall back to float and conversions that break parity, print the op census.",
    )
    parser.add_argument("model", help="a .keras, .h5 or SavedModel path")
    parser.add_argument("-o", "--output", required=True, type=writable_file, help="the .tflite to write")
    parser.add_argument("--calibration", metavar="FILE.npy|digits",
                        help="inputs for the parity check (default: standard-normal; real data judges better)")
    parser.add_argument("--samples", type=positive_int, default=256, help="calibration samples used (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-float-fallback", action="store_true",
                        help="accept binary layers that LCE runs as float operators (binary depthwise, separable, "
                        "transposed or 3D convolutions, kernels with zeros); they are listed in the report")
    parser.add_argument("--min-agreement", type=fraction, default=MIN_AGREEMENT,
                        help=f"least argmax agreement (default {MIN_AGREEMENT})")
    parser.add_argument("--max-rel-error", type=positive_float, default=MAX_P90_REL_ERROR,
                        help=f"largest 90th-percentile relative error (default {MAX_P90_REL_ERROR})")
    parser.add_argument("--baseline", action="append", choices=BASELINES,
                        help="also write the same architecture as float or int8 TFLite (OUT.float.tflite, OUT.int8.tflite)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(run=run, parser=parser)


def baseline_path(output, kind):
    """`model.tflite` -> `model.float.tflite` / `model.int8.tflite`."""
    stem = output[: -len(".tflite")] if output.endswith(".tflite") else output
    return f"{stem}.{kind}.tflite"


def _summary(model, output, conversion, baselines, note):
    from tfbin.convert import report

    lines = [
        f"{model.name} -> {output} ({conversion.size_bytes:,} bytes)",
        report.census_table(conversion.census),
        "",
        f"binary layers: {conversion.binary_layers} in Keras, {conversion.census.get('LceBconv2d', 0)} LceBconv2d; "
        f"float fallbacks: {', '.join(name for name, _ in conversion.float_fallbacks) or 'none'}",
        *(f"  {name} runs as float: {reason}" for name, reason in conversion.float_fallbacks),
        note,
        f"parity: {conversion.parity.describe()}",
        f"time: {conversion.describe_timings()}",
    ]
    for kind, (path, result) in baselines.items():
        lines.append(
            f"{kind} baseline -> {path} ({result.size_bytes:,} bytes; vs float Keras: "
            f"argmax agreement {result.parity.argmax_agreement:.4f}, p90 relative error {result.parity.p90_rel_error:.3g})"
        )
    return "\n".join(lines)


def _failure_json(model, error):
    from tfbin.convert import FloatFallbackError, ParityError

    failure = {"model": model.name, "error": str(error)}
    if isinstance(error, ParityError):
        failure["parity"] = error.parity.to_dict()
    if isinstance(error, FloatFallbackError):
        failure["float_fallbacks"] = [{"layer": n, "reason": r} for n, r in error.layers]
    return failure


def run(args):
    from tfbin.convert import ConversionError, baselines, convert
    from tfbin.convert.calibration import calibration_inputs
    from tfbin.files import write_atomic

    model = load_model_or_exit(args.model)
    x, note = calibration_inputs(args.calibration, model.input_shape, args.samples, args.seed)
    print(note, file=sys.stderr)
    try:
        conversion = convert(
            model, calibration_data=x, min_agreement=args.min_agreement,
            max_p90_rel_error=args.max_rel_error, allow_float_fallback=args.allow_float_fallback,
        )
        extra = {
            kind: (baseline_path(args.output, kind), baselines.baseline(kind, model, x))
            for kind in dict.fromkeys(args.baseline or [])
        }
    except ConversionError as error:
        if args.json:
            print(json.dumps(_failure_json(model, error), indent=2))
        fail(f"{error}\nnothing was written", 1)
    conversion.save(args.output)
    for path, result in extra.values():
        write_atomic(path, result.tflite)
    if args.json:
        summary = {
            "model": model.name,
            "output": args.output,
            **conversion.to_dict(),
            "calibration": note,
            "baselines": {kind: {"output": path, **result.to_dict()} for kind, (path, result) in extra.items()},
        }
        print(json.dumps(summary, indent=2))
    else:
        print(_summary(model, args.output, conversion, extra, note))
