"""Keras -> Larq Compute Engine TFLite, with the parity check on every conversion.

```python
import tfbin
from tfbin import convert, zoo

model = zoo.digits_resnet()
result = convert.convert(model, calibration_data=x_test)
result.save("model.tflite")      # refuses when parity failed
print(result.census, result.parity)
```
"""
import dataclasses
import os
import tempfile

import larq_compute_engine as lce
import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

from tfbin.convert.flatbuffer import op_census
from tfbin.convert.parity import measure_parity
from tfbin.export import strip
from tfbin.layers import MultiBaseConv2D

__all__ = ["ConversionError", "Conversion", "convert", "lce_predict", "write_atomic"]


class ConversionError(RuntimeError):
    """The converted model would not be faithful to the Keras model."""


@dataclasses.dataclass
class Conversion:
    tflite: bytes
    census: dict
    parity: object  # tfbin.convert.parity.Parity

    @property
    def size_bytes(self):
        return len(self.tflite)

    def save(self, path):
        write_atomic(path, self.tflite)


def write_atomic(path, data):
    """Writes `data` to `path` through a temporary file, so no half-written file is ever seen."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfbin-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def lce_predict(tflite, x, num_threads=1):
    """Runs the LCE interpreter over `x` (batched one sample at a time by LCE)."""
    return Interpreter(tflite, num_threads=num_threads).predict(np.asarray(x, np.float32))


def _calibration_inputs(model, calibration_data, samples, seed):
    if calibration_data is not None:
        return np.asarray(calibration_data, np.float32)
    shape = tuple(model.input_shape[1:])
    if None in shape:
        raise ValueError("calibration_data is required for a model whose input shape has unknown sizes")
    return np.random.default_rng(seed).standard_normal((samples, *shape)).astype(np.float32)


def _has_multi_base(model):
    return any(isinstance(layer, MultiBaseConv2D) for layer in model.submodules)


def convert(
    model,
    calibration_data=None,
    min_agreement=0.99,
    max_p90_rel_error=0.05,
    samples=64,
    seed=0,
):
    """Converts `model` with LCE and measures parity on `calibration_data`.

    Multi-base convolutions are stripped to plain larq `QuantConv2D`s first
    (`tfbin.export.strip`); parity is judged against the original model.
    Without calibration data, standard-normal inputs of the model's shape are
    used; real data judges parity better. Raises ConversionError when the
    argmax agreement or the relative error break the tolerance.
    """
    deployable = strip(model) if _has_multi_base(model) else model
    tflite = lce.convert_keras_model(deployable)
    x = _calibration_inputs(model, calibration_data, samples, seed)
    reference = model.predict(x, verbose=0, batch_size=256)
    parity = measure_parity(reference, lce_predict(tflite, x))
    if not parity.faithful(min_agreement, max_p90_rel_error):
        raise ConversionError(
            f"{model.name}: the LCE model disagrees with Keras: argmax agreement "
            f"{parity.argmax_agreement:.4f} (need >= {min_agreement}), 90th-percentile relative "
            f"error {parity.p90_rel_error:.3g} (need <= {max_p90_rel_error}) over {parity.samples} samples"
        )
    return Conversion(tflite=tflite, census=op_census(tflite), parity=parity)
