"""Small models, data and flatbuffer surgery shared by the convert/bench tests."""
import functools

import flatbuffers
import larq as lq
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from tfbin import cli, data, zoo
from tfbin.testing import realistic_weights


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
    """A copy of `tflite` in which the constant input `input_index` of the first `op_name` is `change(array)`.

    Goes through the flatbuffer schema's object API: unpack, edit the buffer, pack again.
    """
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    for op in graph.operators:
        if (model.operatorCodes[op.opcodeIndex].customCode or b"").decode() != op_name:
            continue
        tensor = graph.tensors[op.inputs[input_index]]
        buffer = model.buffers[tensor.buffer]
        dtype = np.int32 if tensor.type == schema.TensorType.INT32 else np.float32
        values = change(np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), dtype).copy())
        buffer.data = np.frombuffer(values.astype(dtype).tobytes(), np.uint8)
        builder = flatbuffers.Builder(len(tflite) + 1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
    raise AssertionError(f"no {op_name} in the flatbuffer")


def run_cli(capsys, *argv):
    """Runs `tfbin ARGV` in this process; returns (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def pruned_channel_model():
    """Two binary layers; the first has a pruned output channel left as zeros, so LCE keeps it float."""
    inputs = tf.keras.Input((8, 8, 32))
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", use_bias=False, name="pruned_conv"
    )(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", use_bias=False, name="intact_conv",
    )(x)
    model = tf.keras.Model(inputs, tf.keras.layers.GlobalAveragePooling2D()(x), name="pruned")
    kernel = np.sign(np.random.default_rng(0).standard_normal((3, 3, 32, 32))).astype(np.float32) * 0.5
    kernel[..., 7] = 0.0  # a pruned output channel left as zeros
    model.get_layer("pruned_conv").set_weights([kernel])
    return model


BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")


def every_binary_kind_model():
    """One binary layer of every larq kind that reads an image, each followed by trained-like BatchNorm.

    `binary_conv` and `binary_dense` (binary input and kernel) become LceBconv2d ops;
    LCE has no binary version of the depthwise, separable and transposed ones,
    nor of a dense layer whose input is float.
    """
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    kinds = [
        lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="binary_conv", **BINARY),
        lq.layers.QuantDepthwiseConv2D(
            3, padding="same", input_quantizer="ste_sign", depthwise_quantizer="ste_sign", name="binary_depthwise"
        ),
        lq.layers.QuantSeparableConv2D(
            32, 3, padding="same", input_quantizer="ste_sign", depthwise_quantizer="ste_sign",
            pointwise_quantizer="ste_sign", name="binary_separable",
        ),
        lq.layers.QuantConv2DTranspose(32, 3, padding="same", name="binary_transposed", **BINARY),
    ]
    for layer in kinds:
        x = tf.keras.layers.BatchNormalization()(layer(x))
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = lq.layers.QuantDense(32, kernel_quantizer="ste_sign", name="float_input_dense")(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = lq.layers.QuantDense(10, name="binary_dense", **BINARY)(x)
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(x), name="every_kind")
    return realistic_weights(model, digits().x_train[:256], seed=3)
