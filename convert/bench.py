"""Latency of TFLite flatbuffers with the LCE interpreter on this host.

```python
from tfbin.convert import bench
stats = bench.time_tflite(open("model.tflite", "rb").read(), threads=1)
stats.median_ms
```
"""
import dataclasses
import time

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

__all__ = ["Latency", "time_tflite"]


@dataclasses.dataclass
class Latency:
    median_ms: float
    p90_ms: float
    min_ms: float
    runs: int
    threads: int

    def to_dict(self):
        return dataclasses.asdict(self)


def time_tflite(tflite, threads=1, warmup=3, runs=20, seed=0):
    """Times single-sample inference; returns median, p90 and min in milliseconds."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError("runs and threads must be >= 1 and warmup >= 0")
    interpreter = Interpreter(tflite, num_threads=threads)
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((1, *shape[1:])).astype(np.float32) for shape in interpreter.input_shapes]
    x = x[0] if len(x) == 1 else x
    for _ in range(warmup):
        interpreter.predict(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.predict(x)
        times.append((time.perf_counter() - start) * 1e3)
    return Latency(
        median_ms=float(np.median(times)),
        p90_ms=float(np.quantile(times, 0.9)),
        min_ms=float(np.min(times)),
        runs=runs,
        threads=threads,
    )
