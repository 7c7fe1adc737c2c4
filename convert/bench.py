"""Latency of TFLite flatbuffers: on this host, or parsed from benchmark_model output.

```python
import tfbin
from tfbin import convert, data, zoo
from tfbin.convert import bench

tflite = convert.convert(zoo.digits_resnet(width=8), calibration_data=data.digits_arrays().x_test[:64]).tflite
bench.time_tflite(tflite, threads=1).median_ms
open("model.tflite", "wb").write(tflite)
bench.time_file("model.tflite").median_ms       # in a child process
printed = "Inference timings in us: Init: 4210, First inference: 1203, Warmup (avg): 960.3, Inference (avg): 801.2"
bench.parse_benchmark_output(printed).latency_ms  # what lce_benchmark_model printed: 0.8012
```
"""
import dataclasses
import os
import re
import signal
import subprocess
import sys

import numpy as np

from tfbin.convert import runner

__all__ = [
    "BenchmarkError",
    "BenchmarkOutputError",
    "Latency",
    "parse_benchmark_output",
    "time_file",
    "time_openvino",
    "time_tflite",
]


class BenchmarkOutputError(ValueError):
    """Benchmark output without the "Inference timings in us" line."""


class BenchmarkError(RuntimeError):
    """The benchmark could not run the model."""


@dataclasses.dataclass
class Latency:
    """Single-sample inference latency in milliseconds.

    `median_ms` and `p90_ms` are None where the tool did not report them
    (older benchmark_model builds print neither); `latency_ms` is the median,
    else the mean.
    """

    median_ms: float | None
    p90_ms: float | None
    min_ms: float | None
    runs: int | None
    threads: int
    avg_ms: float | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    batch: int = 1  # samples per inference (OpenVINO); the latency is that of the whole batch
    precision: str | None = None  # the inference precision OpenVINO ran float layers in

    @property
    def images_per_s(self):
        """Throughput: samples per second at this batch size."""
        return self.batch * 1e3 / self.latency_ms

    @property
    def latency_ms(self):
        return self.median_ms if self.median_ms is not None else self.avg_ms

    def to_dict(self):
        return {**dataclasses.asdict(self), "latency_ms": self.latency_ms, "images_per_s": self.images_per_s}


def _latency(timings, threads, runs, batch=1):
    times = np.asarray(timings["inference_us"]) / 1e3
    return Latency(
        batch=batch,
        precision=timings.get("precision"),
        median_ms=float(np.median(times)),
        p90_ms=float(np.quantile(times, 0.9)),
        min_ms=float(np.min(times)),
        runs=runs,
        threads=threads,
        avg_ms=float(np.mean(times)),
        init_ms=timings["init_us"] / 1e3,
        first_ms=timings["first_us"] / 1e3,
    )


def time_tflite(tflite, threads=1, warmup=3, runs=20, seed=0):
    """Times single-sample inference on this host; median, p90, min and mean in milliseconds."""
    return _latency(runner.measure(tflite, threads=threads, warmup=warmup, runs=runs, seed=seed), threads, runs)


def time_openvino(model, threads=1, warmup=3, runs=20, seed=0, batch=1, precision=None):
    """As `time_tflite`, for an OpenVINO model (`openvino.Model` or `.xml` path) on this CPU.

    `batch` samples per inference (the latency is the batch's); `precision`
    "f32" or "bf16", by default the model's own. The result says which precision ran.
    """
    timings = runner.measure_openvino(model, threads=threads, warmup=warmup, runs=runs, seed=seed, batch=batch,
                                      precision=precision)
    return _latency(timings, threads, runs, batch)


def time_file(path, threads=1, warmup=3, runs=20, timeout=600.0, engine="lce", batch=1, precision=None):
    """Times a `.tflite` file (or with `engine="openvino"` an `.xml`) in a child process running `tfbin.convert.runner`.

    A file that passes validation can still be corrupt enough to crash the
    TFLite interpreter (TensorFlow's own interpreter too); in a child process
    that is a BenchmarkError naming the file, not the end of the caller.
    `batch` and `precision` are for OpenVINO (see `time_openvino`).
    """
    argv = [sys.executable, runner.__file__, os.path.abspath(path),
            "--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs), "--engine", engine]
    if engine == "openvino":
        argv += ["--batch", str(batch)] + (["--precision", precision] if precision else [])
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{path}: no result within {timeout:g} s") from None
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise BenchmarkError(f"{path}: the {_RUNTIMES[engine]} crashed ({name}); the file is corrupt")
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"{path}: the {_RUNTIMES[engine]} cannot run it:\n{tail}")
    return dataclasses.replace(parse_benchmark_output(result.stdout, threads=threads), batch=batch)


_RUNTIMES = {"lce": "TFLite interpreter", "openvino": "OpenVINO runtime"}
_NUMBER = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}"
)
_STAT = re.compile(rf"\b(count|min|median|p90|avg)={_NUMBER}")
_PRECISION = re.compile(r"^Inference precision: (\w+)$", re.MULTILINE)


def parse_benchmark_output(text, threads=1):
    """Reads the timings that `lce_benchmark_model` (or `tfbin.convert.runner`) printed.

    The "Inference timings in us" line gives init, first inference and the
    mean; the last "count=..." line before it (the inference runs) gives min,
    and median/p90 where the tool prints them.
    """
    match = None
    for match in _TIMINGS.finditer(text):
        pass
    if match is None:
        tail = "\n".join(text.strip().splitlines()[-5:]) or "(no output)"
        raise BenchmarkOutputError(f"no 'Inference timings in us' line in the benchmark output:\n{tail}")
    init, first, _, mean = (float(v) / 1e3 for v in match.groups())
    stats = {}
    for line in text[: match.start()].splitlines():
        if re.search(r"\bcount=\d", line):
            stats = {key: float(value) for key, value in _STAT.findall(line)}
    precision = _PRECISION.search(text)
    return Latency(
        precision=precision.group(1) if precision else None,
        median_ms=stats["median"] / 1e3 if "median" in stats else None,
        p90_ms=stats["p90"] / 1e3 if "p90" in stats else None,
        min_ms=stats["min"] / 1e3 if "min" in stats else None,
        runs=int(stats["count"]) if "count" in stats else None,
        threads=threads,
        avg_ms=mean,
        init_ms=init,
        first_ms=first,
    )
