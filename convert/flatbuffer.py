"""Reading TFLite flatbuffers: validation, the operator census, binary filters and cost.

```python
import tfbin
import larq_compute_engine as lce
from tfbin import zoo
from tfbin.convert import flatbuffer

data = lce.convert_keras_model(zoo.digits_resnet(width=8))   # or open("model.tflite", "rb").read()
flatbuffer.op_census(data)     # {"LceBconv2d": 4, "LceQuantize": 4, "CONV_2D": 2, ...}
flatbuffer.flatbuffer_cost(data)  # {"bit_ops": ..., "flops": ...}
```
"""
import collections

import flatbuffers.flexbuffers as flexbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

__all__ = [
    "InvalidModelError",
    "binary_filters",
    "flatbuffer_cost",
    "custom_operators",
    "op_census",
    "validate",
]

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}


class InvalidModelError(ValueError):
    """The bytes are not a readable TFLite flatbuffer."""


def _check_indices(indices, limit, what, source):
    # Out-of-range indices make the TFLite interpreter read out of bounds
    # (it crashes instead of raising), so they are refused here.
    for index in indices:
        if not -1 <= index < limit:
            raise InvalidModelError(f"{source} is corrupt: {what} index {index} out of range")


def validate(data, source="model"):
    """Raises InvalidModelError unless `data` parses as a TFLite model with a subgraph.

    Checks the file identifier, that every buffer lies inside the data and that
    every operator, tensor and buffer index points at something that exists.
    """
    data = bytes(data)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidModelError(f"{source} is not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise InvalidModelError(f"{source} has no subgraph")
        for i in range(model.BuffersLength()):
            buffer = model.Buffers(i)
            if buffer.Offset() and buffer.Offset() + buffer.Size() > len(data):
                raise InvalidModelError(f"{source} is truncated")
            buffer.DataLength()
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            tensors = graph.TensorsLength()
            for t in range(tensors):
                _check_indices([graph.Tensors(t).Buffer()], model.BuffersLength(), "buffer", source)
            _check_indices(graph.InputsAsNumpy() if graph.InputsLength() else [], tensors, "tensor", source)
            _check_indices(graph.OutputsAsNumpy() if graph.OutputsLength() else [], tensors, "tensor", source)
            for i in range(graph.OperatorsLength()):
                op = graph.Operators(i)
                _check_indices([op.OpcodeIndex()], model.OperatorCodesLength(), "operator code", source)
                _check_indices(op.InputsAsNumpy() if op.InputsLength() else [], tensors, "tensor", source)
                _check_indices(op.OutputsAsNumpy() if op.OutputsLength() else [], tensors, "tensor", source)
    except InvalidModelError:
        raise
    except Exception as error:  # the flatbuffer reader raises bare struct/index errors
        raise InvalidModelError(f"{source} is truncated or corrupt: {error}") from error
    return model


def _op_names(model):
    """(name, is custom) per operator code; custom ops are named by their custom code."""
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append((code.CustomCode().decode(errors="replace"), True))
        else:
            names.append((_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"), False))
    return names


def _operators(model, custom=None):
    """(name, operator) for the operators of the main subgraph, in order (only custom ones if `custom`)."""
    names = _op_names(model)
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name, is_custom = names[op.OpcodeIndex()]
        if not custom or is_custom:
            yield name, op


def op_census(data):
    """Counts of each operator in the main subgraph, custom ops by their custom code."""
    counts = collections.Counter(name for name, _ in _operators(validate(data)))
    return dict(sorted(counts.items()))


def custom_operators(data):
    """(custom code, name of its first output tensor) for each custom operator of the main subgraph.

    Tensor names carry the Keras layer path ("model/layer/op"), which is how
    an operator is traced back to the layer it came from.
    """
    model = validate(data)
    return [
        (name, _output(model, op).Name().decode(errors="replace"))
        for name, op in _operators(model, custom=True)
    ]


def _input(model, op, position):
    return model.Subgraphs(0).Tensors(op.Inputs(position))


def _output(model, op):
    return model.Subgraphs(0).Tensors(op.Outputs(0))


def _buffer_array(model, tensor, dtype):
    raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if isinstance(raw, int):  # an empty buffer: the tensor is computed, not constant
        return None
    return np.frombuffer(raw.tobytes(), dtype).reshape(tensor.ShapeAsNumpy())


def _bconv_options(op):
    return flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())


def binary_filters(data):
    """The +-1 filters of every `LceBconv2d`, each of shape (out, kh, kw, in).

    LCE stores them bitpacked along the input channels, 32 to an int32, bit
    set for -1, least significant bit first.
    """
    model = validate(data)
    filters = []
    for name, op in _operators(model):
        if name != "LceBconv2d":
            continue
        packed = _buffer_array(model, _input(model, op, 1), np.int32)
        if packed is None:  # a filter computed at run time has no bits to compare
            continue
        channels_in = int(_bconv_options(op)["channels_in"])
        bits = np.unpackbits(packed.view(np.uint8), axis=-1, bitorder="little")
        filters.append(1.0 - 2.0 * bits[..., :channels_in].astype(np.float32))
    return filters


def _macs(name, model, op):
    """Multiply-accumulates of one operator: (bit-OPs, FLOPs)."""
    if name not in ("LceBconv2d", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return 0, 0
    out_shape = _output(model, op).ShapeAsNumpy()
    weights = [int(d) for d in _input(model, op, 1).ShapeAsNumpy()]
    if name == "FULLY_CONNECTED":
        return 0, int(np.prod(weights)) * int(np.prod(out_shape[:-1]))
    pixels = int(np.prod(out_shape[1:3]))
    if name == "LceBconv2d":
        # The filter's input axis is bitpacked; the options hold the true count.
        out, kh, kw = weights[:3]
        return out * kh * kw * int(_bconv_options(op)["channels_in"]) * pixels, 0
    # CONV_2D (out, kh, kw, in) and DEPTHWISE_CONV_2D (1, kh, kw, channels): MACs per pixel.
    return 0, int(np.prod(weights)) * pixels


def flatbuffer_cost(data):
    """Bit-OPs (binary MACs of `LceBconv2d`) and FLOPs (MACs of float/int8 convs and dense ops).

    Uses the conventions of `tfbin.cost`, read from the flatbuffer, so any
    `.tflite` file can be placed next to Keras models on a cost axis.
    """
    model = validate(data)
    bit_ops = flops = 0
    for name, op in _operators(model):
        b, f = _macs(name, model, op)
        bit_ops += b
        flops += f
    return {"bit_ops": bit_ops, "flops": flops, "ops": bit_ops / 64 + flops}
