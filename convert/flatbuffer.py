"""Reading TFLite flatbuffers: validation and the operator census.

```python
from tfbin.convert import flatbuffer
census = flatbuffer.op_census(open("model.tflite", "rb").read())
# {"LceBconv2d": 8, "LceQuantize": 8, "CONV_2D": 1, ...}
```
"""
import collections

from tensorflow.lite.python import schema_py_generated as schema

__all__ = ["InvalidModelError", "op_census", "validate"]

_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}


class InvalidModelError(ValueError):
    """The bytes are not a readable TFLite flatbuffer."""


def validate(data, source="model"):
    """Raises InvalidModelError unless `data` parses as a TFLite model with a subgraph."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidModelError(f"{source} is not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise InvalidModelError(f"{source} has no subgraph")
        graph = model.Subgraphs(0)
        for i in range(graph.OperatorsLength()):
            graph.Operators(i).OpcodeIndex()
        for i in range(model.BuffersLength()):
            buffer = model.Buffers(i)
            if buffer.Offset() and buffer.Offset() + buffer.Size() > len(data):
                raise InvalidModelError(f"{source} is truncated")
    except InvalidModelError:
        raise
    except Exception as error:  # the flatbuffer reader raises bare struct/index errors
        raise InvalidModelError(f"{source} is truncated or corrupt: {error}") from error
    return model


def op_census(data):
    """Counts of each operator in the main subgraph, custom ops by their custom code."""
    model = validate(data)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            codes.append(code.CustomCode().decode())
        else:
            codes.append(_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    graph = model.Subgraphs(0)
    counts = collections.Counter(codes[graph.Operators(i).OpcodeIndex()] for i in range(graph.OperatorsLength()))
    return dict(sorted(counts.items()))
