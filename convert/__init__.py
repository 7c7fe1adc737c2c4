"""Deployment: Keras -> LCE TFLite with parity checks, op census and timing."""
from tfbin.convert.bench import Latency, time_tflite
from tfbin.convert.converter import Conversion, ConversionError, convert, lce_predict, write_atomic
from tfbin.convert.flatbuffer import InvalidModelError, op_census, validate
from tfbin.convert.parity import Parity, measure_parity

__all__ = [
    "Conversion",
    "ConversionError",
    "InvalidModelError",
    "Latency",
    "Parity",
    "convert",
    "lce_predict",
    "measure_parity",
    "op_census",
    "time_tflite",
    "validate",
    "write_atomic",
]
