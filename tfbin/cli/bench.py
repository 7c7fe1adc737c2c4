"""`tfbin bench`: time .tflite files on this host, or on a device over ssh or adb; OpenVINO .xml files on this host.

    tfbin bench model.tflite model.float.tflite model.int8.tflite --threads 1 --plot latency.png
    tfbin bench model.xml model.float.xml model.int8.xml --engine openvino --threads 1 --json
    tfbin bench model.xml --engine openvino --batch 16 --precision bf16
    tfbin bench model.tflite --ssh pi@raspberrypi.local --lce-benchmark /home/pi/lce_benchmark_model
    tfbin bench model.tflite --ssh me@mac.local --remote-python /opt/venv/bin/python
    tfbin bench model.tflite --adb emulator-5554 --lce-benchmark /data/local/tmp/lce_benchmark_model
"""
import json
import os

from tfbin.choices import ENGINES, PRECISIONS
from tfbin.cli.args import checked, fail, non_negative_int, port, positive_float, positive_int, writable_file
from tfbin.convert.remote import check_destination, check_device_path, check_serial


def add_parser(commands):
    parser = commands.add_parser(
        "bench", help="time .tflite files on this host or on a device over ssh or adb",
        description="Time .tflite files with the LCE interpreter on this host, or copy them to a device and "
        "time them there with lce_benchmark_model or the tfbin runner.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help=".tflite files (.xml with --engine openvino)")
    parser.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                        help="lce: the LCE TFLite interpreter (default); openvino: OpenVINO's CPU runtime, "
                        "on this host only")
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--warmup", type=non_negative_int, default=3, help="warm-up runs (default 3)")
    parser.add_argument("--runs", type=positive_int, default=20, help="timed runs (default 20)")
    parser.add_argument("--batch", type=positive_int, default=1,
                        help="--engine openvino: also time batches of this size and report images/s "
                        "(the latency stays that of one sample)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="--engine openvino: run float layers in this precision instead of the one stored "
                        "in each .xml")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--plot", type=writable_file, metavar="FILE.png", help="plot latency against bit-OPs")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--ssh", type=checked(check_destination), metavar="USER@HOST",
                       help="benchmark on this device over ssh (key authentication)")
    where.add_argument("--adb", type=checked(check_serial), metavar="SERIAL",
                       help="benchmark on this Android device over adb")
    parser.add_argument("--ssh-port", type=port)
    parser.add_argument("--ssh-key", metavar="FILE", help="private key for --ssh")
    parser.add_argument("--ssh-known-hosts", metavar="FILE", help="known_hosts file for --ssh")
    parser.add_argument("--remote-python", type=checked(check_device_path), metavar="PATH",
                        help="Python with larq_compute_engine on the device: runs the tfbin runner (ssh)")
    parser.add_argument("--lce-benchmark", type=checked(check_device_path), metavar="PATH",
                        help="path of lce_benchmark_model on the device")
    parser.add_argument("--timeout", type=positive_float, default=600.0,
                        help="seconds any one step, here or on the device, may take (default 600)")
    parser.add_argument("--connect-timeout", type=positive_float, default=10.0,
                        help="seconds to reach the device (default 10)")
    parser.set_defaults(run=run, parser=parser)


def _read_openvino(paths):
    """(size in bytes, census, cost) of each OpenVINO file, or a clear error."""
    from tfbin.convert.openvino_runtime import (
        OpenVinoUnavailableError, ir_census, ir_cost, read_ir, require_openvino, weights_path,
    )

    try:
        require_openvino()
    except OpenVinoUnavailableError as error:
        fail(str(error), 1)
    found = []
    for path in paths:
        try:
            ir = read_ir(path)
            cost = ir_cost(ir)
        except ValueError as error:
            fail(str(error))
        found.append((os.path.getsize(path) + os.path.getsize(weights_path(path)), ir_census(ir), cost))
    return found


def _read_tflite(paths):
    """(size in bytes, census, cost) of each .tflite file, or a clear error."""
    from tfbin.convert.flatbuffer import flatbuffer_cost, op_census

    for path in paths:
        if path.endswith(".xml"):
            fail(f"{path!r} is an OpenVINO model: time it with --engine openvino")
    return [(len(data), op_census(data), flatbuffer_cost(data)) for data in _read_models(paths)]


def _read_models(paths):
    from tfbin.convert.flatbuffer import InvalidModelError, validate

    models = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            validate(data, repr(path))
        except OSError as error:
            fail(f"cannot read {path!r}: {error.strerror or error}")
        except InvalidModelError as error:
            fail(str(error))
        models.append(data)
    return models


def _device(args):
    from tfbin.convert import remote

    if args.engine != "openvino" and (args.batch != 1 or args.precision):
        fail("--batch and --precision are for --engine openvino")
    if args.engine == "openvino" and (args.ssh or args.adb):
        fail("--engine openvino times on this host only; copy the .xml and .bin to the device and run "
             "tfbin bench there")
    if args.ssh:
        if bool(args.remote_python) == bool(args.lce_benchmark):
            fail("--ssh needs exactly one of --remote-python and --lce-benchmark")
        return remote.SshDevice(
            args.ssh, port=args.ssh_port, key=args.ssh_key, known_hosts=args.ssh_known_hosts,
            connect_timeout=args.connect_timeout, timeout=args.timeout,
        )
    if args.adb:
        if args.remote_python or not args.lce_benchmark:
            fail("--adb needs --lce-benchmark (the path of lce_benchmark_model on the device)")
        return remote.AdbDevice(args.adb, timeout=args.timeout, connect_timeout=args.connect_timeout)
    if args.remote_python or args.lce_benchmark or args.ssh_port or args.ssh_key or args.ssh_known_hosts:
        fail("--remote-python, --lce-benchmark and --ssh-* options need --ssh or --adb")
    return None


def _latencies(args, device):
    from tfbin.convert import remote
    from tfbin.convert.bench import BenchmarkError, time_file

    if device is not None:
        try:
            measured = remote.benchmark(
                device, args.files, args.threads, args.warmup, args.runs,
                remote_python=args.remote_python, lce_benchmark=args.lce_benchmark,
            )
            return [[latency] for latency in measured]
        except remote.RemoteError as error:
            fail(str(error), 1)
    latencies = []
    for path in args.files:
        try:
            timed = [time_file(path, args.threads, args.warmup, args.runs, timeout=args.timeout, engine=args.engine,
                               precision=args.precision)]
            if args.batch > 1:
                timed.append(time_file(path, args.threads, args.warmup, args.runs, timeout=args.timeout,
                                       engine=args.engine, batch=args.batch, precision=args.precision))
        except BenchmarkError as error:
            fail(str(error), 1)
        latencies.append(timed)
    return latencies


def _timing_columns(timed):
    """Row fields of one file's timings: batch-1 latency, and the throughput at `--batch` when it was timed."""
    single = timed[0].to_dict()
    if len(timed) > 1:
        single.update(batch=timed[1].batch, images_per_s=timed[1].images_per_s)
    return single


def run(args):
    from tfbin.convert import report

    device = _device(args)
    found = _read_openvino(args.files) if args.engine == "openvino" else _read_tflite(args.files)
    latencies = _latencies(args, device)
    rows = [
        {
            "name": os.path.basename(path),
            "file": path,
            "size_bytes": size,
            "census": census,
            **cost,
            **_timing_columns(timed),
        }
        for path, (size, census, cost), timed in zip(args.files, found, latencies)
    ]
    where = str(device) if device else "host"
    if args.plot:
        report.plot_latency(rows, args.plot, title=f"latency on {where}, {args.threads} thread(s)")
    if args.json:
        print(json.dumps(
            {"device": where, "engine": args.engine, "threads": args.threads, "warmup": args.warmup,
             "runs": args.runs, "models": rows},
            indent=2,
        ))
    else:
        print(f"{where} ({args.engine}): {args.threads} thread(s), {args.warmup} warm-up and {args.runs} timed runs")
        print(report.bench_table(rows))
        if args.plot:
            print(f"wrote {args.plot}")
