"""Calibration inputs for parity checks and int8 quantization.

`calibration_inputs(calibration, input_shape)` reads a `.npy` file, takes
the bundled digits images ("digits", resized and channel-repeated to the
model's input), or draws standard-normal inputs when `calibration` is None;
real data judges parity better, and the returned note says so.

```python
import tfbin
from tfbin.convert.calibration import calibration_inputs
x, note = calibration_inputs("digits", (None, 8, 8, 1), samples=256)
x.shape, note
```
"""
import os

import numpy as np

__all__ = ["calibration_inputs", "read_calibration_file"]


def _model_shape(input_shape):
    if isinstance(input_shape, list):
        raise ValueError("models with several inputs are not supported: give the model one input")
    return tuple(input_shape[1:])


def _digits(shape, samples, seed):
    from tfbin import data

    if len(shape) != 3 or shape[0] != shape[1] or shape[0] is None or shape[0] < 8 or shape[2] not in (1, 3):
        raise ValueError(
            f"calibration='digits' fits models whose input is (S, S, 1) or (S, S, 3) with S >= 8; "
            f"this model takes {shape}"
        )
    images = data.digits_arrays(image_size=shape[0], seed=seed).x_test[:samples]
    return np.repeat(images, shape[2], axis=-1) if shape[2] == 3 else images


def read_calibration_file(path):
    """The array in the `.npy` file at `path`, checked: a non-empty array of finite real numbers.

    Raises ValueError naming the file and what is wrong; the shape is checked
    against a model by `calibration_inputs`.
    """
    if not os.path.isfile(path):
        raise ValueError(f"calibration={path!r}: no such file (give a .npy file or 'digits')")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"calibration={path!r} is not a readable .npy array: {error}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        raise ValueError(f"calibration={path!r} must hold real numbers (float or integer), not {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"calibration={path!r} holds no samples (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"calibration={path!r} holds NaN or infinite values: give finite inputs")
    return x


def _from_file(path, shape, samples):
    x = read_calibration_file(path)
    if x.ndim != len(shape) + 1 or any(s is not None and s != d for s, d in zip(shape, x.shape[1:])):
        raise ValueError(
            f"calibration={path!r} holds an array of shape {x.shape}; the model takes (batch, {', '.join(map(str, shape))})"
        )
    return x[:samples]


def calibration_inputs(calibration, input_shape, samples=256, seed=0):
    """Returns (float32 inputs, note): at most `samples` inputs and where they came from.

    `calibration` is None (standard-normal inputs), "digits" or a `.npy` path.
    """
    shape = _model_shape(input_shape)
    if calibration is None:
        if None in shape:
            raise ValueError(f"the model's input shape {shape} has unknown sizes, so no random inputs can stand in: give calibration data")
        x = np.random.default_rng(seed).standard_normal((samples, *shape))
        note = (
            f"no calibration data: parity judged on {samples} standard-normal inputs; "
            "real data (a .npy file or digits) judges better"
        )
    elif calibration == "digits":
        x = _digits(shape, samples, seed)
        note = f"calibration: {len(x)} digits test images"
    else:
        x = _from_file(calibration, shape, samples)
        note = f"calibration: {len(x)} samples from {calibration}"
    return np.asarray(x, np.float32), note
