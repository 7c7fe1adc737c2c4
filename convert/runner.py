"""Time a `.tflite` file with the LCE interpreter (or an OpenVINO `.xml`) and print what TFLite's benchmark_model prints.

Run it where the model will run:

    python -m tfbin.convert.runner model.tflite --threads 1 --warmup 3 --runs 20
    python -m tfbin.convert.runner model.xml --engine openvino --threads 1 --batch 8 --precision bf16

It needs only numpy and `larq_compute_engine` (or `openvino`), never tfbin itself, so
`tfbin bench --ssh` copies this one file to a device that has Python with LCE
(Apple silicon, an x86 board) and runs it there. The output has the lines of
`lce_benchmark_model`, so one parser (`tfbin.convert.bench.parse_benchmark_output`)
reads both:

    count=20 first=812 curr=790 min=781 max=901 avg=801.2 std=30 p5=781 median=795 p90=830 p95=850
    Inference timings in us: Init: 4210, First inference: 1203, Warmup (avg): 960.3, Inference (avg): 801.2
"""
import argparse
import sys
import time

import numpy as np

__all__ = [
    "ENGINES",
    "PRECISION_KEY",
    "compile_for_batch",
    "format_report",
    "main",
    "measure",
    "measure_openvino",
    "openvino_config",
    "stored_precision",
]

# As in tfbin.choices.ENGINES (this file runs without tfbin).
ENGINES = ("lce", "openvino")


def measure(tflite, threads=1, warmup=3, runs=20, seed=0):
    """Times single-sample inference; returns a dict of microsecond timings.

    Keys: init_us, first_us, warmup_us (list, first inference included when
    warmup > 0), inference_us (list of `runs` timings).
    """
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError("runs and threads must be >= 1 and warmup >= 0")
    start = time.perf_counter()
    interpreter = Interpreter(tflite, num_threads=threads)
    init_us = (time.perf_counter() - start) * 1e6
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((1, *shape[1:])).astype(np.float32) for shape in interpreter.input_shapes]
    x = x[0] if len(x) == 1 else x

    def timed():
        start = time.perf_counter()
        interpreter.predict(x)
        return (time.perf_counter() - start) * 1e6

    return _time(timed, init_us, warmup, runs)


def _time(timed, init_us, warmup, runs):
    """`timed()` runs one inference and returns its microseconds."""
    # benchmark_model's first inference is its first warmup run.
    first_us = timed()
    warmup_us = [first_us] + [timed() for _ in range(warmup - 1)] if warmup else []
    inference_us = [timed() for _ in range(runs)]
    return {"init_us": init_us, "first_us": first_us, "warmup_us": warmup_us, "inference_us": inference_us}


def openvino_config(threads=None, precision="f32"):
    """OpenVINO CPU settings for latency: float layers in `precision` ("f32" or "bf16"), one stream."""
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(int(threads))
    return config


# Where tfbin keeps an OpenVINO model's inference precision: its runtime options.
# The CPU plugin (2026.4) does not apply this option by itself, so whoever compiles passes it on.
PRECISION_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]


def stored_precision(model):
    """The inference precision an `openvino.Model` keeps under `PRECISION_KEY`; "f32" when it has none."""
    return model.get_rt_info(PRECISION_KEY).astype(str) if model.has_rt_info(PRECISION_KEY) else "f32"


def compile_for_batch(model, batch=1, threads=None, precision=None):
    """Compiles an OpenVINO model (`.xml` path or `openvino.Model`) with every input's batch fixed to `batch`.

    BinaryConvolution runs only with static shapes, and tfbin writes a
    dynamic batch. `precision`: "f32" or "bf16", by default the model's own
    (`stored_precision`).
    """
    import openvino as ov

    core = ov.Core()
    model = core.read_model(model) if isinstance(model, str) else model.clone()
    model.reshape({
        port.output(0): [batch] + [d.get_length() if d.is_static else -1 for d in list(port.get_partial_shape())[1:]]
        for port in model.get_parameters()
    })
    return core.compile_model(model, "CPU", openvino_config(threads, precision or stored_precision(model)))


def measure_openvino(model, threads=1, warmup=3, runs=20, seed=0, batch=1, precision=None):
    """Times inference of `batch` samples at once by an OpenVINO model (an `.xml` path or an `openvino.Model`).

    `precision` as for `compile_for_batch`. Same keys as `measure`, and
    "precision": the inference precision the CPU plugin ran with.

    Timed as OpenVINO's benchmark_app times (`-api sync`): random inputs are
    set once, and each run's time is the request's own `latency`, measured
    by OpenVINO around the inference, without Python's call overhead and the
    copying of inputs and outputs. With the same properties at compile time
    (`openvino_config`), the two agree (benchmarks/openvino_bench.py).
    """
    import openvino as ov

    if runs < 1 or warmup < 0 or threads < 1 or batch < 1:
        raise ValueError("runs, threads and batch must be >= 1 and warmup >= 0")
    start = time.perf_counter()
    compiled = compile_for_batch(model, batch, threads, precision)
    request = compiled.create_infer_request()
    init_us = (time.perf_counter() - start) * 1e6
    rng = np.random.default_rng(seed)
    for i, port in enumerate(compiled.inputs):
        x = rng.standard_normal(tuple(port.get_partial_shape().to_shape())).astype(np.float32)
        request.set_input_tensor(i, ov.Tensor(x))

    def timed():
        request.infer()
        return request.latency * 1e3  # OpenVINO gives milliseconds

    timings = _time(timed, init_us, warmup, runs)
    return {**timings, "precision": _precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))}


def _precision_name(element_type):
    """OpenVINO's element type as tfbin names precisions: "f32", "bf16"."""
    return element_type.get_type_name()


def _stat_line(times):
    t = np.asarray(times)
    q = {p: float(np.quantile(t, p / 100)) for p in (5, 50, 90, 95)}
    return (
        f"count={len(t)} first={t[0]:.0f} curr={t[-1]:.0f} min={t.min():.0f} max={t.max():.0f} "
        f"avg={t.mean():.1f} std={t.std():.0f} p5={q[5]:.0f} median={q[50]:.1f} p90={q[90]:.1f} p95={q[95]:.0f}"
    )


def format_report(timings):
    """The benchmark_model-style lines for `measure()`'s result (and the precision `measure_openvino` ran at)."""
    warmup = timings["warmup_us"] or [timings["first_us"]]
    lines = [f"Inference precision: {timings['precision']}"] if "precision" in timings else []
    lines += [
        _stat_line(warmup),
        _stat_line(timings["inference_us"]),
        "Inference timings in us: "
        f"Init: {timings['init_us']:.0f}, First inference: {timings['first_us']:.0f}, "
        f"Warmup (avg): {np.mean(warmup):.1f}, Inference (avg): {np.mean(timings['inference_us']):.1f}",
    ]
    return "\n".join(lines)


def _count(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .tflite file, or an OpenVINO .xml with --engine openvino")
    parser.add_argument("--engine", choices=ENGINES, default="lce")
    parser.add_argument("--threads", type=_count(1), default=1)
    parser.add_argument("--warmup", type=_count(0), default=3)
    parser.add_argument("--runs", type=_count(1), default=20)
    parser.add_argument("--batch", type=_count(1), default=1, help="samples per inference (openvino)")
    parser.add_argument("--precision", choices=("f32", "bf16"),
                        help="float layers' precision (openvino; default: the model's own)")
    args = parser.parse_args(argv)
    if args.engine != "openvino" and (args.batch != 1 or args.precision):
        parser.error("--batch and --precision are for --engine openvino")
    try:
        if args.engine == "openvino":
            timings = measure_openvino(args.model, args.threads, args.warmup, args.runs, batch=args.batch,
                                       precision=args.precision)
        else:
            with open(args.model, "rb") as f:
                tflite = f.read()
            timings = measure(tflite, args.threads, args.warmup, args.runs)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"runner: error: {args.model}: {error}", file=sys.stderr)
        return 1
    print(format_report(timings), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
