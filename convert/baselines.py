"""Float and int8 TFLite baselines of the same architecture, to compare a binary model against.

`float_model` swaps every binary layer for its full-precision Keras
counterpart (a `MultiBaseConv2D` or larq `QuantConv2D` becomes a `Conv2D` of
the same shape) and keeps every other layer. The float kernels are the binary
layers' real-valued versions (latent weights; for a multi-base layer the sum
of its live weight bases times their mean scale), so the baselines measure
size and speed, not the binary model's accuracy.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import baselines

model = zoo.digits_resnet(width=8)
x = data.digits_arrays().x_test[:64]
fp32 = baselines.baseline("float", model, x)   # Baseline(kind, tflite, census, parity)
int8 = baselines.baseline("int8", model, x)    # post-training quantization
fp32.size_bytes, int8.size_bytes
```
"""
import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin.choices import BASELINES
from tfbin.convert.converter import check_parity, lce_predict
from tfbin.convert.errors import ConversionError
from tfbin.convert.flatbuffer import op_census
from tfbin.convert.parity import measure_parity
from tfbin.graph import rewrite
from tfbin.layers import MultiBaseConv2D
from tfbin.validation import check_one_of

__all__ = ["BASELINES", "Baseline", "baseline", "float_model"]
# Post-training quantization needs a few hundred samples at most.
_INT8_CALIBRATION_SAMPLES = 200


@dataclasses.dataclass
class Baseline:
    kind: str
    tflite: bytes
    census: dict
    parity: object  # against the float Keras model; int8 is expected to differ a little

    @property
    def size_bytes(self):
        return len(self.tflite)

    def to_dict(self):
        return {"size_bytes": self.size_bytes, "census": self.census, "parity": self.parity.to_dict()}


def _conv_config(layer):
    return dict(
        filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides,
        padding=layer.padding, dilation_rate=layer.dilation_rate, groups=layer.groups,
        activation=layer.activation, use_bias=layer.use_bias, name=layer.name,
    )


def _latent(variable):
    return tf.keras.backend.get_value(getattr(variable, "latent_variable", variable))


def _multi_base_kernel(layer):
    coefficients = tf.keras.backend.get_value(layer.coefficients())  # (N, M, filters)
    live_n = np.any(coefficients != 0, axis=(1, 2))
    scale = coefficients[live_n].mean(axis=0)  # (M, filters); 0 for pruned weight bases
    kernel = sum(layer.weight_base(m) * scale[m] for m in range(layer.weight_bases))
    return np.asarray(kernel, np.float32)


def _float_layer(layer):
    """(float layer, weights) standing in for a binary layer, or None to keep the layer."""
    bias = [tf.keras.backend.get_value(layer.bias)] if getattr(layer, "use_bias", False) else []
    if isinstance(layer, MultiBaseConv2D):
        return tf.keras.layers.Conv2D(**_conv_config(layer)), [_multi_base_kernel(layer), *bias]
    if isinstance(layer, lq.layers.QuantDepthwiseConv2D):
        config = dict(
            kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
            depth_multiplier=layer.depth_multiplier, dilation_rate=layer.dilation_rate,
            activation=layer.activation, use_bias=layer.use_bias, name=layer.name,
        )
        return tf.keras.layers.DepthwiseConv2D(**config), [_latent(layer.depthwise_kernel), *bias]
    if isinstance(layer, lq.layers.QuantConv2D):
        return tf.keras.layers.Conv2D(**_conv_config(layer)), [_latent(layer.kernel), *bias]
    if isinstance(layer, lq.layers.QuantDense):
        config = dict(units=layer.units, activation=layer.activation, use_bias=layer.use_bias, name=layer.name)
        return tf.keras.layers.Dense(**config), [_latent(layer.kernel), *bias]
    return None


def float_model(model):
    """A copy of `model` with every binary/quantized larq or tfbin layer made full precision."""

    def replace(layer):
        swap = _float_layer(layer)
        if swap is None:
            return None
        new, weights = swap

        def apply(inputs):
            outputs = new(inputs)
            new.set_weights(weights)
            return outputs

        return apply

    return rewrite(model, replace)


def _float_to_tflite(keras_model):
    return tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()


def _int8_to_tflite(keras_model, calibration_data):
    # Weights and activations int8; inputs and outputs stay float so the same
    # data and benchmarks apply.
    samples = np.asarray(calibration_data, np.float32)[:_INT8_CALIBRATION_SAMPLES]

    def representative():
        for sample in samples:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def baseline(kind, model, calibration_data):
    """Converts the `kind` ("float" or "int8") baseline of `model` and measures its parity.

    The float baseline must match the float Keras model (else ConversionError);
    int8's figures are reported, since quantization changes outputs by design.
    """
    check_one_of("kind", kind, BASELINES)
    x = np.asarray(calibration_data, np.float32)
    reference = float_model(model)
    try:
        tflite = _float_to_tflite(reference) if kind == "float" else _int8_to_tflite(reference, x)
    except Exception as error:  # TFLiteConverter raises assorted error types
        raise ConversionError(f"{model.name}: the {kind} baseline does not convert: {error}") from error
    if kind == "float":
        parity = check_parity(reference, tflite, x)
    else:
        parity = measure_parity(reference.predict(x, verbose=0, batch_size=32), lce_predict(tflite, x))
    return Baseline(kind=kind, tflite=tflite, census=op_census(tflite), parity=parity)
