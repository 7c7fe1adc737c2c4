"""Deployment: Keras -> LCE TFLite with parity checks, op census, baselines and timing.

```python
import tfbin
from tfbin import convert

result = convert.convert(model, calibration_data=x)    # raises ConversionError when unfaithful
result.save("model.tflite")
convert.time_tflite(result.tflite).median_ms           # on this host
```

The `tfbin convert` and `tfbin bench` commands (tfbin.convert.cli) do the same
from the shell, and time files on ARM devices over ssh or adb.
"""
from tfbin.convert.bench import BenchmarkOutputError, Latency, parse_benchmark_output, time_tflite
from tfbin.convert.converter import (
    Conversion,
    ConversionError,
    FloatFallbackError,
    ParityError,
    check_parity,
    convert,
    lce_predict,
    write_atomic,
)
from tfbin.convert.flatbuffer import InvalidModelError, flatbuffer_cost, op_census, validate
from tfbin.convert.parity import Parity, measure_parity

__all__ = [
    "BenchmarkOutputError",
    "Conversion",
    "ConversionError",
    "FloatFallbackError",
    "InvalidModelError",
    "Latency",
    "Parity",
    "ParityError",
    "check_parity",
    "convert",
    "flatbuffer_cost",
    "lce_predict",
    "measure_parity",
    "op_census",
    "parse_benchmark_output",
    "time_tflite",
    "validate",
    "write_atomic",
]
