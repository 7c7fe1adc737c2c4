"""Small models, data and flatbuffer surgery shared by the convert/bench tests."""
import functools

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from tfbin import data, zoo
from tfbin.convert.realistic import realistic_weights


@functools.lru_cache(maxsize=None)
def digits():
    return data.digits_arrays()


def tiny_net(conv="bnn", weight_bases=1, activation_bases=1, width=8, seed=0):
    """A two-block residual net on 8x8 digits with trained-like BatchNorm and scales."""
    kwargs = dict(weight_bases=weight_bases, activation_bases=activation_bases) if conv == "mbn" else {}
    model = zoo.residual_net(
        (8, 8, 1), 10, [(width, 1, 1), (2 * width, 1, 2)], conv=conv, name=f"tiny_{conv}", **kwargs
    )
    return realistic_weights(model, digits().x_train[:256], seed=seed)


def tamper(tflite, op_name, input_index, change):
    """A copy of `tflite` in which the constant input `input_index` of the first `op_name` is `change(array)`."""
    model = schema.Model.GetRootAsModel(tflite, 0)
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if (code.CustomCode() or b"").decode() != op_name:
            continue
        tensor = graph.Tensors(op.Inputs(input_index))
        table = model.Buffers(tensor.Buffer())._tab
        field = table.Offset(4)  # Buffer.data
        start, length = table.Vector(field), table.VectorLen(field)
        dtype = np.int32 if tensor.Type() == schema.TensorType.INT32 else np.float32
        values = change(np.frombuffer(tflite[start : start + length], dtype).copy())
        out = bytearray(tflite)
        out[start : start + length] = values.astype(dtype).tobytes()
        return bytes(out)
    raise AssertionError(f"no {op_name} in the flatbuffer")
