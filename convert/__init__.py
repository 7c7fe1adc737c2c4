"""Deployment: Keras -> LCE TFLite or OpenVINO with parity checks, op census, baselines and timing.

```python
import tfbin
from tfbin import convert, data, zoo

x = data.digits_arrays().x_test[:64]
result = convert.convert(zoo.digits_resnet(width=8), calibration_data=x)  # ConversionError when unfaithful
result.census                                   # {"LceBconv2d": 4, "LceQuantize": 4, ...}
convert.time_tflite(result.tflite).median_ms    # latency on this host
```

For x86 CPUs, `convert.convert_openvino` builds an OpenVINO model whose binary
convolutions run as OpenVINO's BinaryConvolution (`pip install "tfbin[openvino]"`;
see `tfbin.convert.openvino_converter`), and `convert.time_openvino` times it.

The `tfbin convert` and `tfbin bench` commands do the same from the shell, and
time files on ARM devices over ssh or adb. The parts load on first use, so
that the command line can read the choices of `tfbin.convert.parity` and
`tfbin.convert.remote` without loading Larq Compute Engine.
"""
from tfbin._lazy import lazy_exports

# Public name -> the module of tfbin.convert that defines it.
_EXPORTS = {
    "BenchmarkOutputError": "bench",
    "Latency": "bench",
    "parse_benchmark_output": "bench",
    "time_openvino": "bench",
    "time_tflite": "bench",
    "Conversion": "converter",
    "ConversionError": "errors",
    "FloatFallbackError": "errors",
    "ParityError": "errors",
    "check_parity": "converter",
    "convert": "converter",
    "judge_parity": "converter",
    "lce_predict": "converter",
    "InvalidModelError": "flatbuffer",
    "flatbuffer_cost": "flatbuffer",
    "op_census": "flatbuffer",
    "validate": "flatbuffer",
    "NotInt8Error": "int8",
    "OpenVinoConversion": "openvino_converter",
    "convert_openvino": "openvino_converter",
    "to_openvino": "openvino_converter",
    "OpenVinoUnavailableError": "openvino_runtime",
    "Parity": "parity",
    "measure_parity": "parity",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
