"""Keras -> Larq Compute Engine TFLite, faithful or refused.

`convert` strips training-only structure (`tfbin.pruning.strip_pruning`:
multi-base convolutions become stacked binary convolutions, binary dense
layers 1x1 binary convolutions, masks and dead bases go, scales fold into the
kernels), converts with LCE (`tfbin.convert.tracing`), checks that every
binary layer became an `LceBconv2d` (LCE silently runs a binary dense or
depthwise layer, or a kernel with zeros, as float: `tfbin.convert.fallback`)
and that the flatbuffer computes what the Keras model computes on calibration
data. Any failure raises `ConversionError`. `Conversion.timings` says how long
each phase took.

```python
import tfbin
from tfbin import convert, data, zoo

x = data.digits_arrays().x_test
result = convert.convert(zoo.digits_resnet(), calibration_data=x)
result.census           # {"LceBconv2d": 4, "LceQuantize": 4, "CONV_2D": 2, ...}
result.parity.describe()
result.save("model.tflite")
```
"""
import dataclasses
import re
import time
import warnings

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

from tfbin.choices import FLOAT_LAYERS
from tfbin.convert.errors import ConversionError, FloatFallbackError, ParityError
from tfbin.convert.fallback import binary_layers, unmatched
from tfbin.convert.flatbuffer import binary_filters, custom_operators, op_census, validate
from tfbin.convert.parity import MAX_P90_REL_ERROR, MIN_AGREEMENT, keras_predict, measure_parity
from tfbin.convert.rounding import rounding_floor
from tfbin.convert.tracing import lce_flatbuffer
from tfbin.files import write_atomic
from tfbin.pruning import strip_pruning
from tfbin.validation import check_one_of

__all__ = [
    "Conversion",
    "check_parity",
    "convert",
    "judge_parity",
    "lce_predict",
]


@dataclasses.dataclass
class Conversion:
    tflite: bytes
    census: dict
    parity: object  # tfbin.convert.parity.Parity
    binary_layers: int = 0
    float_fallbacks: list = dataclasses.field(default_factory=list)  # (layer name, reason)
    # Seconds per phase: strip, lce (conversion), checks (operators and filters), parity, total.
    timings: dict = dataclasses.field(default_factory=dict)
    # float_layers="int8": the Keras layers that run as int8 operators (tfbin.convert.int8).
    int8_layers: list = dataclasses.field(default_factory=list)

    @property
    def size_bytes(self):
        return len(self.tflite)

    def save(self, path):
        write_atomic(path, self.tflite)

    def to_dict(self):
        return {
            "size_bytes": self.size_bytes,
            "census": self.census,
            "parity": self.parity.to_dict(),
            "binary_layers": self.binary_layers,
            "float_fallbacks": [{"layer": name, "reason": reason} for name, reason in self.float_fallbacks],
            "timings": self.timings,
            "int8_layers": self.int8_layers,
        }

    def describe_timings(self):
        """"strip 1.2 s, LCE conversion 3.4 s, checks 0.1 s, parity 2.0 s (total 6.7 s)"."""
        t = self.timings
        return (
            f"strip {t['strip_s']:.1f} s, "
            + (f"int8 calibration {t['int8_s']:.1f} s, " if "int8_s" in t else "")
            + f"LCE conversion {t['lce_s']:.1f} s, checks {t['checks_s']:.1f} s, "
            f"parity {t['parity_s']:.1f} s (total {t['total_s']:.1f} s)"
        )


def lce_predict(tflite, x, num_threads=1):
    """Runs the LCE interpreter over `x` (batched one sample at a time by LCE)."""
    return Interpreter(tflite, num_threads=num_threads).predict(np.asarray(x, np.float32))


def _calibration_inputs(model, calibration_data, samples, seed):
    if calibration_data is not None:
        return np.asarray(calibration_data, np.float32)
    from tfbin.convert.calibration import calibration_inputs

    x, note = calibration_inputs(None, model.input_shape, samples, seed)
    warnings.warn(f"{model.name}: {note}", stacklevel=3)
    return x


def _layers_named_in(text, model):
    return [layer.name for layer in model.submodules if re.search(rf"[/\"']{re.escape(layer.name)}[/\"']", text)]


def _lce_convert(model):
    try:
        return lce_flatbuffer(model)
    except Exception as error:  # the MLIR converter raises assorted error types
        text = str(error)
        culprits = _layers_named_in(text, model)
        where = f" (layer{'s' if len(culprits) > 1 else ''} {', '.join(culprits)})" if culprits else ""
        first = next((line.strip() for line in text.splitlines() if "error" in line.lower()), text[:300])
        raise ConversionError(f"{model.name}: LCE cannot convert this model{where}: {first}") from error


# Custom ops the LCE interpreter runs; any other custom op (PyFunc, Flex*) cannot run.
_LCE_OPS = {"LceBconv2d", "LceQuantize", "LceDequantize", "LceBMaxPool2d"}


def _check_runnable(tflite, model):
    unsupported = [(op, out) for op, out in custom_operators(tflite) if op not in _LCE_OPS]
    if unsupported:
        ops = sorted({op for op, _ in unsupported})
        culprits = _layers_named_in(" ".join(out for _, out in unsupported), model)
        where = f" from layer(s) {', '.join(culprits)}" if culprits else ""
        raise ConversionError(
            f"{model.name}: the flatbuffer needs operators that TFLite with LCE cannot run: {', '.join(ops)}{where}"
        )


def judge_parity(model, x, reference, candidate, min_agreement=MIN_AGREEMENT,
                 max_p90_rel_error=MAX_P90_REL_ERROR, engine="TFLite"):
    """Parity of `candidate` (a converted model's outputs on `x`) with `reference` (Keras' outputs).

    Raises ParityError beyond the tolerance. When the fixed tolerance fails,
    the model's own rounding floor (`tfbin.convert.rounding`) is measured and
    the tolerance widened to it: deep binary nets move that much between two
    float orders of Keras itself. `engine` names the converted model in the
    error. Every target's converter judges its parity here.
    """
    parity = measure_parity(reference, candidate)
    if not parity.faithful(min_agreement, max_p90_rel_error):
        parity = parity.with_floor(rounding_floor(model, x, reference))
    if not parity.faithful(min_agreement, max_p90_rel_error):
        agreement, rel_error = parity.allowed(min_agreement, max_p90_rel_error)
        raise ParityError(
            f"{model.name}: the {engine} model disagrees with Keras: argmax agreement "
            f"{parity.argmax_agreement:.4f} (need >= {agreement:.4g}), 90th-percentile relative "
            f"error {parity.p90_rel_error:.3g} (need <= {rel_error:.3g}) over {parity.samples} samples",
            parity,
        )
    return parity


def check_parity(model, tflite, x, min_agreement=MIN_AGREEMENT, max_p90_rel_error=MAX_P90_REL_ERROR):
    """Measures parity of `tflite` with `model` on `x`; raises ParityError beyond the tolerance (see `judge_parity`)."""
    return judge_parity(model, x, keras_predict(model, x), _flatbuffer_outputs(model, tflite, x), min_agreement,
                        max_p90_rel_error)


def _flatbuffer_outputs(model, tflite, x):
    """The outputs of `tflite` on `x`, or ConversionError naming `model` when the interpreter cannot run it."""
    try:
        return lce_predict(tflite, x)
    except (RuntimeError, ValueError) as error:
        raise ConversionError(f"{model.name}: the TFLite interpreter cannot run the flatbuffer: {error}") from error


def convert(
    model,
    calibration_data=None,
    min_agreement=None,
    max_p90_rel_error=MAX_P90_REL_ERROR,
    samples=64,
    seed=0,
    allow_float_fallback=False,
    float_layers="float",
):
    """Converts `model` with LCE; returns a `Conversion` or raises `ConversionError`.

    Arguments:
        calibration_data: inputs on which parity is judged (all of them).
            Without it, `samples` standard-normal inputs of the model's shape
            are used, with a warning: real data judges parity better.
        min_agreement: the parity tolerance's least argmax agreement (see
            `tfbin.convert.parity`); defaults to 0.99, and to 0.98 with
            `float_layers="int8"`.
        max_p90_rel_error: the parity tolerance's largest 90th percentile of
            the per-sample relative error (see `tfbin.convert.parity`).
        allow_float_fallback: accept binary layers that LCE runs as float
            operators (listed with the reason in `Conversion.float_fallbacks`)
            instead of raising `FloatFallbackError`. Every layer with a 1-bit
            input or kernel quantizer counts as binary
            (`tfbin.convert.fallback`); LCE has binary 2D convolutions only,
            so binary depthwise, separable, transposed and 3D convolutions
            are refused by default (binary dense and 1D convolutions are
            exported as 2D ones).
        float_layers: "float" (default) keeps the float layers (stem,
            downsampling shortcuts, classifier) in float32; "int8" makes every
            float Conv2D and Dense an int8 operator, calibrated on
            `calibration_data`, next to the binary ones
            (`tfbin.convert.int8`; listed in `Conversion.int8_layers`). A
            float layer that cannot be made int8 raises `NotInt8Error`, and
            parity then holds the argmax agreement only (int8 moves outputs
            by design; the relative error is reported).

    ```python
    import tfbin
    from tfbin import data, zoo
    from tfbin.convert import convert

    model = zoo.digits_resnet(width=8, conv="mbn", weight_bases=2, activation_bases=2)
    result = convert(model, calibration_data=data.digits_arrays().x_test[:100])
    result.census["LceBconv2d"], result.parity.argmax_agreement
    result.save("model.tflite")
    ```
    """
    check_one_of("float_layers", float_layers, FLOAT_LAYERS)
    clock = _Clock()
    deployable = strip_pruning(model)
    clock.lap("strip_s")
    int8_layers = []
    if float_layers == "int8":
        from tfbin.convert import int8

        x = int8.require_calibration(model, calibration_data)
        deployable, int8_layers = int8.fake_quantized(deployable, x)
        clock.lap("int8_s")
    tflite = _lce_convert(deployable)
    clock.lap("lce_s")
    validate(tflite, f"{model.name}'s converted flatbuffer")
    _check_runnable(tflite, deployable)
    binary = binary_layers(deployable)
    binarizable = [layer for layer in binary if layer.kernel is not None]
    filters = binary_filters(tflite)
    fallbacks = unmatched(binary, filters)
    kept_float = [name for name, _ in unmatched(binarizable, filters)]
    if len(kept_float) > len(binarizable) - len(filters):
        # More layers lack their filter than LCE left out: some LceBconv2d
        # computes with other bits than its Keras kernel.
        raise ConversionError(
            f"{model.name}: the binary filters in the flatbuffer differ from the Keras kernels "
            f"(unmatched: {', '.join(kept_float)})"
        )
    if fallbacks and not allow_float_fallback:
        listing = "; ".join(f"{name}: {reason}" for name, reason in fallbacks)
        raise FloatFallbackError(
            f"{model.name}: {len(fallbacks)} of {len(binary)} binary layers would run as float operators, "
            f"not as LCE binary ones ({listing}). Pass allow_float_fallback=True to accept that",
            fallbacks,
        )
    if float_layers == "int8":
        int8.check_int8(tflite, model.name, int8_layers, [name for name, _ in fallbacks])
        clock.lap("checks_s")
        parity = int8.judge_int8_parity(model, keras_predict(model, x), _flatbuffer_outputs(model, tflite, x),
                                        int8.MIN_INT8_AGREEMENT if min_agreement is None else min_agreement)
    else:
        clock.lap("checks_s")
        x = _calibration_inputs(model, calibration_data, samples, seed)
        parity = check_parity(model, tflite, x, MIN_AGREEMENT if min_agreement is None else min_agreement,
                              max_p90_rel_error)
    clock.lap("parity_s")
    return Conversion(
        tflite=tflite,
        census=op_census(tflite),
        parity=parity,
        binary_layers=len(binary),
        float_fallbacks=fallbacks,
        timings=clock.timings(),
        int8_layers=int8_layers,
    )


class _Clock:
    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.laps = {}

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def timings(self):
        return {**self.laps, "total_s": self.last - self.start}
