"""OpenVINO float32 and int8 baselines of the same architecture, to compare a binary model against on x86.

As `tfbin.convert.baselines` does for TFLite: `baselines.float_model` makes
every binary layer full precision, and that float Keras model is converted
to OpenVINO (`tfbin.convert.openvino_converter.to_openvino`), with parity against the
float Keras model held to the usual tolerance. The int8 baseline is NNCF's
post-training quantization of that OpenVINO model (installed with the
`openvino` extra), calibrated on the given data; its parity is reported,
not held, since quantization changes outputs by design.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import openvino_baselines

model = zoo.digits_resnet(width=8)
x = data.digits_arrays().x_test[:64]
int8 = openvino_baselines.openvino_baseline("int8", model, x)
int8.census.get("FakeQuantize", 0) > 0, int8.parity.argmax_agreement
int8.save("model.int8.xml")
```
"""
import contextlib
import dataclasses
import io

import numpy as np

from tfbin.choices import BASELINES
from tfbin.convert.baselines import float_model
from tfbin.convert.errors import ConversionError
from tfbin.convert.openvino_converter import check_openvino_parity, to_openvino
from tfbin.convert.openvino_int8 import import_nncf
from tfbin.convert.openvino_runtime import SavedAsIR, ir_census, openvino_predict, set_precision
from tfbin.convert.parity import flat_outputs, measure_parity
from tfbin.validation import check_one_of

__all__ = ["OpenVinoBaseline", "openvino_baseline"]
# Post-training quantization needs a few hundred samples at most.
_INT8_CALIBRATION_SAMPLES = 200


@dataclasses.dataclass
class OpenVinoBaseline(SavedAsIR):
    kind: str
    model: object  # openvino.Model
    census: dict
    parity: object  # against the float Keras model

    def to_dict(self):
        return {"size_bytes": self.size_bytes, "census": self.census, "parity": self.parity.to_dict()}


def _quantize(ir, x, name):
    nncf = import_nncf(f"{name}: the OpenVINO int8 baseline")
    samples = x[:_INT8_CALIBRATION_SAMPLES]
    dataset = nncf.Dataset(list(samples), lambda sample: sample[None])
    # NNCF draws progress bars on stdout, where `--json` output goes.
    with contextlib.redirect_stdout(io.StringIO()):
        return nncf.quantize(ir, dataset, subset_size=len(samples))


def openvino_baseline(kind, model, calibration_data, precision="f32"):
    """The `kind` ("float" or "int8") OpenVINO baseline of `model`, with its parity against float Keras.

    The float baseline must match the float Keras model (else ConversionError).
    `precision` is that of its float layers, as for `convert_openvino`.
    """
    check_one_of("kind", kind, BASELINES)
    x = np.asarray(calibration_data, np.float32)
    reference = float_model(model)
    ir = to_openvino(reference, precision=precision)
    if kind == "float":
        parity = check_openvino_parity(reference, ir, x)
    else:
        try:
            ir = _quantize(ir, x, model.name)
        except ConversionError:
            raise
        except Exception as error:  # NNCF raises assorted error types
            raise ConversionError(f"{model.name}: NNCF cannot quantize the OpenVINO model: {error}") from error
        set_precision(ir, precision)  # NNCF makes a new model without the runtime options
        reference_outputs = reference.predict(x, verbose=0, batch_size=32)
        parity = measure_parity(flat_outputs(reference_outputs), flat_outputs(openvino_predict(ir, x)))
    return OpenVinoBaseline(kind=kind, model=ir, census=ir_census(ir), parity=parity)
