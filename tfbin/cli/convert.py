"""`tfbin convert`: Keras model -> LCE .tflite or OpenVINO .xml, refusing float fallbacks and broken parity.

    tfbin convert model.keras -o model.tflite --calibration digits --baseline float --baseline int8
    tfbin convert model.keras --target openvino -o model.xml --calibration digits --baseline int8
    tfbin convert model.keras -o model.tflite --calibration digits --float-layers int8

Nothing is written unless everything succeeded.
"""
import json
import sys

from tfbin.choices import BASELINES, FLOAT_LAYERS, PRECISIONS, TARGETS
from tfbin.cli.args import add_unsafe_load_argument, fail, fraction, load_model_or_exit, positive_float, positive_int, writable_file
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT


def add_parser(commands):
    parser = commands.add_parser(
        "convert", help="convert a Keras model to an LCE .tflite or an OpenVINO .xml, checking binary ops and parity",
        description="Strip training-only structure, convert with Larq Compute Engine (ARM devices) or to OpenVINO "
        "(x86 CPUs, --target openvino), refuse binary layers that would run as float and conversions that break "
        "parity, print the op census.",
    )
    parser.add_argument("model", help="a .keras, .h5 or SavedModel path")
    parser.add_argument("-o", "--output", required=True, type=writable_file,
                        help="the .tflite to write (.xml for --target openvino, with its .bin beside it)")
    parser.add_argument("--target", choices=TARGETS, default=TARGETS[0],
                        help="lce: Larq Compute Engine TFLite (default); openvino: OpenVINO IR with BinaryConvolution "
                        'for x86 CPUs (needs pip install "tfbin[openvino]")')
    parser.add_argument("--calibration", metavar="FILE.npy|digits",
                        help="inputs for the parity check (default: standard-normal; real data judges better)")
    parser.add_argument("--samples", type=positive_int, default=256, help="calibration samples used (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-float-fallback", action="store_true",
                        help="accept binary layers that run as float operators (binary depthwise, separable, "
                        "transposed or 3D convolutions, kernels with zeros); they are listed in the report")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="--target openvino: the precision of float layers, stored in the .xml and used for "
                        "the parity check (default f32; bf16 runs faster on CPUs with AVX512_BF16 or AMX)")
    parser.add_argument("--float-layers", choices=FLOAT_LAYERS, default=FLOAT_LAYERS[0],
                        help="float: keep the float layers (stem, downsampling shortcuts, classifier) float32 "
                        "(default); int8: make every float Conv2D and Dense int8, calibrated on --calibration, "
                        "next to the binary layers (LCE: int8 CONV_2D and FULLY_CONNECTED; OpenVINO: NNCF), "
                        "refusing float layers that cannot be; parity then holds the agreement only")
    parser.add_argument("--min-agreement", type=fraction,
                        help=f"least argmax agreement (default {MIN_AGREEMENT}; 0.98 with --float-layers int8)")
    parser.add_argument("--max-rel-error", type=positive_float, default=MAX_P90_REL_ERROR,
                        help=f"largest 90th-percentile relative error (default {MAX_P90_REL_ERROR})")
    parser.add_argument("--baseline", action="append", choices=BASELINES,
                        help="also write the same architecture as float or int8 TFLite (OUT.float.tflite, OUT.int8.tflite; "
                        "with --target openvino: OpenVINO float32 and NNCF int8, OUT.float.xml, OUT.int8.xml)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_unsafe_load_argument(parser)
    parser.set_defaults(run=run, parser=parser)


_SUFFIXES = {"lce": ".tflite", "openvino": ".xml"}


def baseline_path(output, kind, target="lce"):
    """`model.tflite` -> `model.float.tflite` / `model.int8.tflite` (`.xml` for OpenVINO)."""
    suffix = _SUFFIXES[target]
    stem = output[: -len(suffix)] if output.endswith(suffix) else output
    return f"{stem}.{kind}{suffix}"


def _summary(model, output, conversion, baselines, note):
    from tfbin.convert import report

    binary_op = "LceBconv2d" if hasattr(conversion, "tflite") else "BinaryConvolution"
    binary = [
        f"binary layers: {conversion.binary_layers} in Keras, {conversion.census.get(binary_op, 0)} {binary_op}; "
        f"float fallbacks: {', '.join(name for name, _ in conversion.float_fallbacks) or 'none'}",
        *(f"  {name} runs as float: {reason}" for name, reason in conversion.float_fallbacks),
    ]
    if conversion.int8_layers:
        binary.append(f"int8 layers: {', '.join(conversion.int8_layers)} "
                      "(parity holds the argmax agreement only; the relative error is reported)")
    if not hasattr(conversion, "tflite"):
        kernels = ", ".join(f"{count} {name}" for name, count in conversion.kernels.items()) or "none"
        binary.append(f"precision: {conversion.precision}; CPU kernels on one thread: {kernels}")
    lines = [
        f"{model.name} -> {output} ({conversion.size_bytes:,} bytes)",
        report.census_table(conversion.census),
        "",
        *binary,
        note,
        f"parity: {conversion.parity.describe()}",
    ]
    if hasattr(conversion, "describe_timings"):
        lines.append(f"time: {conversion.describe_timings()}")
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


def _convert(args, model, x):
    """(conversion, {kind: (path, baseline)}) for the chosen target; raises ConversionError."""
    if args.target == "openvino":
        from tfbin.convert import convert_openvino
        from tfbin.convert.openvino_baselines import openvino_baseline as make_baseline

        conversion = convert_openvino(
            model, calibration_data=x, min_agreement=args.min_agreement, max_p90_rel_error=args.max_rel_error,
            allow_float_fallback=args.allow_float_fallback, precision=args.precision or "f32",
            float_layers=args.float_layers,
        )
    else:
        from tfbin.convert import convert
        from tfbin.convert.baselines import baseline as make_baseline

        conversion = convert(
            model, calibration_data=x, min_agreement=args.min_agreement,
            max_p90_rel_error=args.max_rel_error, allow_float_fallback=args.allow_float_fallback,
            float_layers=args.float_layers,
        )
    options = {"precision": args.precision or "f32"} if args.target == "openvino" else {}
    extra = {
        kind: (baseline_path(args.output, kind, args.target), make_baseline(kind, model, x, **options))
        for kind in dict.fromkeys(args.baseline or [])
    }
    return conversion, extra


def _check_target_arguments(args):
    suffix = _SUFFIXES[args.target]
    if args.target != "openvino" and args.precision:
        fail("--precision is for --target openvino: LCE runs float layers in float32")
    if args.float_layers == "int8" and args.calibration is None:
        fail("--float-layers int8 needs --calibration (FILE.npy or digits): int8 ranges come from real inputs")
    if not args.output.endswith(suffix):
        fail(f"--output {args.output!r}: --target {args.target} writes a {suffix} file")


def _files(result, path):
    """{path: bytes} of what `result` writes to `path`: a .tflite, or an OpenVINO .xml and its .bin."""
    return {path: result.tflite} if hasattr(result, "tflite") else result.files(path)


def _write(args, model, conversion, extra):
    """Writes every output, or none of them (a full disk, a folder gone): then a one-line error."""
    from tfbin.files import write_atomic_files

    outputs = _files(conversion, args.output)
    for path, result in extra.values():
        outputs.update(_files(result, path))
    try:
        write_atomic_files(outputs)
    except OSError as error:
        what = args.output + (" and its baselines" if extra else "")
        message = f"cannot write {what}: {error.strerror or error}; nothing was written"
        if args.json:
            print(json.dumps({"model": model.name, "error": message}, indent=2))
        fail(message, 1)


def run(args):
    from tfbin.convert.calibration import calibration_inputs, read_calibration_file

    # Bad arguments and bad files answer before TensorFlow loads.
    _check_target_arguments(args)
    if args.calibration not in (None, "digits"):
        read_calibration_file(args.calibration)
    model = load_model_or_exit(args.model, args.unsafe_load)
    from tfbin.convert import ConversionError

    x, note = calibration_inputs(args.calibration, model.input_shape, args.samples, args.seed)
    print(note, file=sys.stderr)
    try:
        conversion, extra = _convert(args, model, x)
    except ConversionError as error:
        if args.json:
            print(json.dumps(_failure_json(model, error), indent=2))
        fail(f"{error}\nnothing was written", 1)
    _write(args, model, conversion, extra)
    if args.json:
        summary = {
            "model": model.name,
            "target": args.target,
            "output": args.output,
            **conversion.to_dict(),
            "calibration": note,
            "baselines": {kind: {"output": path, **result.to_dict()} for kind, (path, result) in extra.items()},
        }
        print(json.dumps(summary, indent=2))
    else:
        print(_summary(model, args.output, conversion, extra, note))
