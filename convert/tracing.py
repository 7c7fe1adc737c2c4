"""Keras model -> LCE flatbuffer through one traced inference function.

`larq_compute_engine.convert_keras_model` saves the whole Keras model as a
SavedModel first, and Keras' SavedModel writer traces every layer's call
functions (with AutoGraph) to serialize them: on a ResNet-20 MBN 3/3 that is
over 90% of the conversion time (measured: 36 s of 38 s). LCE needs only the
inference function, so `lce_flatbuffer` traces the model once, with
`training=False` and without AutoGraph, saves that function with the model's
variables, and converts that SavedModel with LCE's own
`convert_saved_model`: the same MLIR passes, the same flatbuffer, a fraction
of the time. A model whose layers need AutoGraph (Python control flow on
tensors) is traced with it; one that cannot be traced this way at all goes
through `convert_keras_model`.

```python
import tfbin
from tfbin import zoo
from tfbin.convert.flatbuffer import op_census
from tfbin.convert.tracing import lce_flatbuffer

flatbuffer = lce_flatbuffer(zoo.digits_resnet(width=8))
op_census(flatbuffer)["LceBconv2d"]   # 4
```
"""
import tempfile

import larq_compute_engine as lce
import tensorflow as tf

__all__ = ["lce_flatbuffer"]

# Custom gradients are for training; tracing them costs time and LCE drops them.
_SAVE_OPTIONS = tf.saved_model.SaveOptions(experimental_custom_gradients=False)


def _inference_function(model, autograph):
    signature = [
        tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
        for tensor, name in zip(model.inputs, model.input_names)
    ]

    @tf.function(input_signature=signature, autograph=autograph)
    def serve(*inputs):
        outputs = tf.nest.flatten(model(inputs[0] if len(inputs) == 1 else list(inputs), training=False))
        # Zero-padded keys: TFLite orders a signature's outputs by key.
        return {f"output_{i:03d}": output for i, output in enumerate(outputs)}

    return serve.get_concrete_function()


def _traced_saved_model(model, directory):
    try:
        function = _inference_function(model, autograph=False)
    except (TypeError, ValueError, NotImplementedError, tf.errors.OperatorNotAllowedInGraphError):
        # A layer branches on a tensor in Python: AutoGraph rewrites that.
        function = _inference_function(model, autograph=True)
    module = tf.Module()
    module.model_variables = list(model.variables)
    tf.saved_model.save(module, directory, signatures={"serving_default": function}, options=_SAVE_OPTIONS)


def lce_flatbuffer(model):
    """The LCE TFLite flatbuffer of a functional or Sequential Keras model, as bytes.

    Raises what LCE's converter raises when the model does not convert.
    """
    with tempfile.TemporaryDirectory() as directory:
        try:
            _traced_saved_model(model, directory)
        except Exception:  # noqa: BLE001  (tracing raises assorted types; LCE's own path may still work)
            return lce.convert_keras_model(model)
        return lce.convert_saved_model(directory)
