"""`tfbin convert` and `tfbin bench`.

    tfbin convert model.keras -o model.tflite --calibration digits --baseline float --baseline int8
    tfbin bench model.tflite model.float.tflite model.int8.tflite --threads 1 --plot latency.png
    tfbin bench model.tflite --ssh pi@raspberrypi.local --lce-benchmark /home/pi/lce_benchmark_model
    tfbin bench model.tflite --ssh me@mac.local --remote-python /opt/venv/bin/python
    tfbin bench model.tflite --adb emulator-5554 --lce-benchmark /data/local/tmp/lce_benchmark_model

Exit status: 0 on success, 2 for bad arguments or unreadable inputs, 1 when a
conversion is refused or a benchmark fails. Nothing is written unless
everything succeeded.
"""
import argparse
import json
import os
import sys

from tfbin.cli import load_model_or_exit, number, positive_float, positive_int

__all__ = ["add_cli"]


def _fail(command, message, status):
    print(f"tfbin {command}: error: {message}", file=sys.stderr)
    raise SystemExit(status)


_fraction = number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
_non_negative_int = number(int, lambda v: v >= 0, "an integer >= 0")
_port = number(int, lambda v: 1 <= v <= 65535, "a TCP port (1-65535)")


def _checked(check):
    def parse(text):
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def _writable_file(flag):
    def parse(text):
        directory = os.path.dirname(os.path.abspath(text))
        if not text or os.path.isdir(text):
            raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file name")
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            raise argparse.ArgumentTypeError(f"cannot write {text!r}: {directory!r} is not a writable directory")
        return text

    return parse


def baseline_path(output, kind):
    """`model.tflite` -> `model.float.tflite` / `model.int8.tflite`."""
    stem = output[: -len(".tflite")] if output.endswith(".tflite") else output
    return f"{stem}.{kind}.tflite"


# -- tfbin convert ----------------------------------------------------------


def _convert_summary(model, output, conversion, baselines, note):
    from tfbin.convert import report

    lines = [
        f"{model.name} -> {output} ({conversion.size_bytes:,} bytes)",
        report.census_table(conversion.census),
        "",
        f"binary layers: {conversion.binary_layers} in Keras, {conversion.census.get('LceBconv2d', 0)} LceBconv2d; "
        f"float fallbacks: {', '.join(name for name, _ in conversion.float_fallbacks) or 'none'}",
        note,
        f"parity: {conversion.parity.describe()}",
    ]
    for kind, (path, result) in baselines.items():
        lines.append(
            f"{kind} baseline -> {path} ({result.size_bytes:,} bytes; vs float Keras: "
            f"argmax agreement {result.parity.argmax_agreement:.4f}, p90 relative error {result.parity.p90_rel_error:.3g})"
        )
    return "\n".join(lines)


def _convert(args):
    from tfbin.convert import ConversionError, FloatFallbackError, ParityError, baselines, convert, write_atomic
    from tfbin.convert.calibration import calibration_inputs

    model = load_model_or_exit(args.model, "convert")
    try:
        x, note = calibration_inputs(args.calibration, model.input_shape, args.samples, args.seed)
    except ValueError as error:
        _fail("convert", str(error), 2)
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
            failure = {"model": model.name, "error": str(error)}
            if isinstance(error, ParityError):
                failure["parity"] = error.parity.to_dict()
            if isinstance(error, FloatFallbackError):
                failure["float_fallbacks"] = [{"layer": n, "reason": r} for n, r in error.layers]
            print(json.dumps(failure, indent=2))
        _fail("convert", f"{error}\nnothing was written", 1)
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
        print(_convert_summary(model, args.output, conversion, extra, note))


# -- tfbin bench --------------------------------------------------------------


def _read_models(paths):
    from tfbin.convert.flatbuffer import InvalidModelError, validate

    models = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            validate(data, repr(path))
        except OSError as error:
            _fail("bench", f"cannot read {path!r}: {error.strerror or error}", 2)
        except InvalidModelError as error:
            _fail("bench", str(error), 2)
        models.append(data)
    return models


def _device(args):
    from tfbin.convert import remote

    if args.ssh:
        if bool(args.remote_python) == bool(args.lce_benchmark):
            _fail("bench", "--ssh needs exactly one of --remote-python and --lce-benchmark", 2)
        return remote.SshDevice(
            args.ssh, port=args.ssh_port, key=args.ssh_key, known_hosts=args.ssh_known_hosts,
            connect_timeout=args.connect_timeout, timeout=args.timeout,
        )
    if args.adb:
        if args.remote_python or not args.lce_benchmark:
            _fail("bench", "--adb needs --lce-benchmark (the path of lce_benchmark_model on the device)", 2)
        return remote.AdbDevice(args.adb, timeout=args.timeout, connect_timeout=args.connect_timeout)
    if args.remote_python or args.lce_benchmark or args.ssh_port or args.ssh_key or args.ssh_known_hosts:
        _fail("bench", "--remote-python, --lce-benchmark and --ssh-* options need --ssh or --adb", 2)
    return None


def _latencies(args, device):
    from tfbin.convert import remote
    from tfbin.convert.bench import BenchmarkError, time_file

    if device is not None:
        try:
            return remote.benchmark(
                device, args.files, args.threads, args.warmup, args.runs,
                remote_python=args.remote_python, lce_benchmark=args.lce_benchmark,
            )
        except remote.RemoteError as error:
            _fail("bench", str(error), 1)
    latencies = []
    for path in args.files:
        try:
            latencies.append(time_file(path, args.threads, args.warmup, args.runs, timeout=args.timeout))
        except BenchmarkError as error:
            _fail("bench", str(error), 1)
    return latencies


def _bench(args):
    from tfbin.convert import report
    from tfbin.convert.flatbuffer import flatbuffer_cost, op_census

    models = _read_models(args.files)
    device = _device(args)
    latencies = _latencies(args, device)
    rows = [
        {
            "name": os.path.basename(path),
            "file": path,
            "size_bytes": len(data),
            "census": op_census(data),
            **flatbuffer_cost(data),
            **latency.to_dict(),
        }
        for path, data, latency in zip(args.files, models, latencies)
    ]
    where = str(device) if device else "host"
    if args.plot:
        report.plot_latency(rows, args.plot, title=f"latency on {where}, {args.threads} thread(s)")
    if args.json:
        print(json.dumps(
            {"device": where, "threads": args.threads, "warmup": args.warmup, "runs": args.runs, "models": rows},
            indent=2,
        ))
    else:
        print(f"{where}: {args.threads} thread(s), {args.warmup} warm-up and {args.runs} timed runs")
        print(report.bench_table(rows))
        if args.plot:
            print(f"wrote {args.plot}")


def add_cli(commands):
    """Adds the `convert` and `bench` subcommands to the `tfbin` command's subparsers."""
    from tfbin.convert import baselines, parity, remote

    convert = commands.add_parser(
        "convert", help="convert a Keras model to an LCE .tflite, checking binary ops and parity",
        description="Strip training-only structure, convert with Larq Compute Engine, refuse binary layers "
        "that fall back to float and conversions that break parity, print the op census.",
    )
    convert.add_argument("model", help="a .keras, .h5 or SavedModel path")
    convert.add_argument("-o", "--output", required=True, type=_writable_file("--output"), help="the .tflite to write")
    convert.add_argument("--calibration", metavar="FILE.npy|digits",
                         help="inputs for the parity check (default: standard-normal; real data judges better)")
    convert.add_argument("--samples", type=positive_int, default=256, help="calibration samples used (default 256)")
    convert.add_argument("--seed", type=int, default=0)
    convert.add_argument("--allow-float-fallback", action="store_true",
                         help="accept binary layers that LCE keeps as float convolutions")
    convert.add_argument("--min-agreement", type=_fraction, default=parity.MIN_AGREEMENT,
                         help=f"least argmax agreement (default {parity.MIN_AGREEMENT})")
    convert.add_argument("--max-rel-error", type=positive_float, default=parity.MAX_P90_REL_ERROR,
                         help=f"largest 90th-percentile relative error (default {parity.MAX_P90_REL_ERROR})")
    convert.add_argument("--baseline", action="append", choices=baselines.BASELINES,
                         help="also write the same architecture as float or int8 TFLite (OUT.float.tflite, OUT.int8.tflite)")
    convert.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    convert.set_defaults(handler=_convert)

    bench = commands.add_parser(
        "bench", help="time .tflite files on this host or on a device over ssh or adb",
        description="Time .tflite files with the LCE interpreter on this host, or copy them to a device and "
        "time them there with lce_benchmark_model or the tfbin runner.",
    )
    bench.add_argument("files", nargs="+", metavar="FILE", help=".tflite files")
    bench.add_argument("--threads", type=positive_int, default=1)
    bench.add_argument("--warmup", type=_non_negative_int, default=3, help="warm-up runs (default 3)")
    bench.add_argument("--runs", type=positive_int, default=20, help="timed runs (default 20)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    bench.add_argument("--plot", type=_writable_file("--plot"), metavar="FILE.png", help="plot latency against bit-OPs")
    where = bench.add_mutually_exclusive_group()
    where.add_argument("--ssh", type=_checked(remote.check_destination), metavar="USER@HOST",
                       help="benchmark on this device over ssh (key authentication)")
    where.add_argument("--adb", type=_checked(remote.check_serial), metavar="SERIAL",
                       help="benchmark on this Android device over adb")
    bench.add_argument("--ssh-port", type=_port)
    bench.add_argument("--ssh-key", metavar="FILE", help="private key for --ssh")
    bench.add_argument("--ssh-known-hosts", metavar="FILE", help="known_hosts file for --ssh")
    bench.add_argument("--remote-python", type=_checked(remote.check_device_path), metavar="PATH",
                       help="Python with larq_compute_engine on the device: runs the tfbin runner (ssh)")
    bench.add_argument("--lce-benchmark", type=_checked(remote.check_device_path), metavar="PATH",
                       help="path of lce_benchmark_model on the device")
    bench.add_argument("--timeout", type=positive_float, default=600.0,
                       help="seconds any one step, here or on the device, may take (default 600)")
    bench.add_argument("--connect-timeout", type=positive_float, default=10.0,
                       help="seconds to reach the device (default 10)")
    bench.set_defaults(handler=_bench)
