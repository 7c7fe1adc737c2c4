"""The float layers of a binary network in int8, for OpenVINO: NNCF post-training quantization around the binary part.

`convert_openvino(..., float_layers="int8")` first builds the binary model as
usual (every binary convolution a `BinaryConvolution` behind a one-bit
`FakeQuantize`), then `quantize_float_layers` runs NNCF's post-training
quantization (`nncf.quantize`) on it, calibrated on the calibration data,
with an ignored scope of the binary part (the `BinaryConvolution` ops and the
`FakeQuantize` ops of levels 2 that make their bits) and of the elementwise
and pooling ops between layers, so that only the float layers are
quantized. NNCF inserts 8-bit
FakeQuantize ops (256 or 255 levels) on the inputs and weights of the float
`Convolution`, `GroupConvolution` and `MatMul` ops, which the CPU plugin runs
as int8 kernels. NNCF collects statistics by running the model, and
BinaryConvolution runs only with static shapes, so the batch is fixed to one
while it does and left dynamic again afterwards.

`int8_layers` then names, from the quantized graph, every float convolution
or dense op whose data and weights are 8-bit, and `check_int8_ir` refuses a
model in which one stayed float.

```python
import tfbin
from tfbin import data, zoo
from tfbin.convert import convert_openvino, openvino_int8

x = data.digits_arrays().x_test[:64]
model = zoo.digits_resnet(width=8)  # untrained here; a trained one keeps 0.98 agreement (the default)
result = convert_openvino(model, calibration_data=x, float_layers="int8", min_agreement=0.01)
result.int8_layers                  # ["stem_conv", "stage2_block1_down", "logits"]
result.census["BinaryConvolution"]  # 4: the binary part is untouched
openvino_int8.int8_layers(result.model)[1]   # []: no float convolution or MatMul left
```
"""
import contextlib
import io
import logging

from tfbin.convert.errors import ConversionError
from tfbin.convert.openvino_runtime import INSTALL_HINT

__all__ = ["check_int8_ir", "check_int8_openvino_parity", "import_nncf", "int8_float_layers", "int8_layers",
           "quantize_float_layers"]

# Post-training quantization needs a few hundred samples at most.
_CALIBRATION_SAMPLES = 300
# Ops whose weights make them the "float layers" of a binary network.
_WEIGHTED = ("Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData", "GroupConvolutionBackpropData")
# The binary part, which NNCF must leave alone.
_BINARY = ("BinaryConvolution",)
# Ops NNCF would also quantize by default that are not float layers: residual sums, BatchNorm's
# multiply-adds, poolings. Quantizing them too moves the inputs of the binary signs for no speed
# (measured on the trained digits BNN, width 16: argmax agreement with Keras 0.983 with them, 0.991 without).
_NOT_LAYERS = ("Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum", "AvgPool", "MaxPool",
               "ReduceMean", "ReduceMax", "Concat", "Interpolate", "MVN", "NormalizeL2")


def import_nncf(what):
    """The `nncf` module, quiet; ConversionError saying that `what` needs NNCF when it is not installed."""
    try:
        import nncf
    except ImportError as error:
        raise ConversionError(f"{what} needs NNCF, which is not installed ({error}); {INSTALL_HINT}") from error
    logging.getLogger("nncf").setLevel(logging.ERROR)
    return nncf


def _one_bit_fake_quantizes(ir):
    """The friendly names of the two-level FakeQuantize ops: the bits of the BinaryConvolutions."""
    return [node.get_friendly_name() for node in ir.get_ordered_ops()
            if node.get_type_name() == "FakeQuantize" and node.get_attributes()["levels"] == 2]


def _reshape_batch(ir, batch):
    from tfbin.convert.openvino_runtime import _with_batch

    ir.reshape({p.output(0): _with_batch(p.get_partial_shape(), batch) for p in ir.get_parameters()})


def quantize_float_layers(ir, x, name):
    """A copy of the OpenVINO model `ir` with its float layers in int8 by NNCF, its binary part untouched.

    `x`: calibration inputs (the first few hundred are used). Raises
    ConversionError when NNCF is missing or fails.
    """
    import numpy as np

    nncf = import_nncf(f"{name}: float_layers='int8' with OpenVINO")
    model = ir.clone()
    _reshape_batch(model, 1)
    samples = np.asarray(x, np.float32)[:_CALIBRATION_SAMPLES]
    dataset = nncf.Dataset(list(samples), lambda sample: sample[None])
    scope = nncf.IgnoredScope(names=_one_bit_fake_quantizes(model), types=[*_BINARY, *_NOT_LAYERS], validate=False)
    try:
        # NNCF draws progress bars on stdout, where `--json` output goes.
        with contextlib.redirect_stdout(io.StringIO()):
            quantized = nncf.quantize(model, dataset, subset_size=len(samples), ignored_scope=scope)
    except Exception as error:  # NNCF raises assorted error types
        raise ConversionError(
            f"{name}: NNCF cannot quantize the float layers of the OpenVINO model: {error}"
        ) from error
    _reshape_batch(quantized, -1)
    return quantized


def _eight_bit(output):
    """Whether a weighted op's input is 8-bit: a FakeQuantize of 255/256 levels, maybe behind a Convert or reshape."""
    node = output.get_node()
    for _ in range(4):
        kind = node.get_type_name()
        if kind == "Constant":  # NNCF stores quantized weights as int8 constants, converted and scaled
            return node.get_element_type().get_type_name() in ("i8", "u8")
        if kind == "FakeQuantize":
            return node.get_attributes()["levels"] in (255, 256)
        if kind not in ("Convert", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Multiply", "Subtract"):
            return False
        node = node.input_value(0).get_node()
    return False


def int8_layers(ir):
    """([int8 weighted ops' names], [float weighted ops' names]) of a quantized OpenVINO model."""
    int8, floating = [], []
    for node in ir.get_ordered_ops():
        if node.get_type_name() in _WEIGHTED:
            data, weights = node.input_value(0), node.input_value(1)
            quantized = _eight_bit(data) and _eight_bit(weights)
            (int8 if quantized else floating).append(node.get_friendly_name())
    return int8, floating


def check_int8_ir(ir, name):
    """The names of the int8 ops of `ir`; raises ConversionError when a float convolution or dense op is left."""
    int8, floating = int8_layers(ir)
    if floating:
        raise ConversionError(
            f"{name}: float_layers='int8', but NNCF left {len(floating)} convolution or dense op(s) float "
            f"({', '.join(floating)})"
        )
    return int8


def int8_float_layers(model, deployable, ir, x, precision):
    """(`ir` with its float layers in int8, the Keras names of those layers); ConversionError when one stays float."""
    from tfbin.convert.openvino_runtime import set_precision

    quantized = quantize_float_layers(ir, x, model.name)
    set_precision(quantized, precision)  # NNCF makes a new model without the runtime options
    check_int8_ir(quantized, model.name)
    from tfbin.convert.int8 import float_kernel_layers

    return quantized, [layer.name for layer in float_kernel_layers(deployable)]


def check_int8_openvino_parity(model, ir, x, min_agreement=None):
    """Parity of an OpenVINO model with int8 float layers against Keras: agreement held, relative error reported."""
    from tfbin.convert.int8 import MIN_INT8_AGREEMENT, judge_int8_parity
    from tfbin.convert.openvino_runtime import model_precision, openvino_predict
    from tfbin.convert.parity import flat_outputs

    try:
        candidate = openvino_predict(ir, x)
    except RuntimeError as error:
        raise ConversionError(f"{model.name}: OpenVINO cannot run the converted model: {error}") from error
    reference = model.predict(x, verbose=0, batch_size=32)
    return judge_int8_parity(model, flat_outputs(reference), flat_outputs(candidate),
                             MIN_INT8_AGREEMENT if min_agreement is None else min_agreement,
                             f"OpenVINO ({model_precision(ir)})")
