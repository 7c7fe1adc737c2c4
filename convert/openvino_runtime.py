"""Running OpenVINO models on this CPU: the installation check, compiling, inference, census, cost, files.

`tfbin.convert.openvino_converter` builds the models; this module is what converting,
benchmarking (`tfbin bench --engine openvino`) and the baselines share.
OpenVINO is optional (`pip install "tfbin[openvino]"`) and loads on first
use; `require_openvino` says what to install when it is missing or when the
installed version lacks BinaryConvolution, which its maintainers call
obsolete (tfbin pins the version it is tested with).

```python
import tfbin
from tfbin import zoo
from tfbin.convert import openvino_converter, openvino_runtime

ir = openvino_converter.to_openvino(zoo.digits_resnet(width=8))
openvino_runtime.ir_census(ir)["BinaryConvolution"]    # 4
openvino_runtime.ir_cost(ir)["bit_ops"]
openvino_runtime.save_ir(ir, "model.xml")             # model.xml and model.bin
```
"""
import functools
import os
import tempfile
from xml.etree import ElementTree

import numpy as np

from tfbin.choices import PRECISIONS
from tfbin.convert.errors import ConversionError
from tfbin.convert.runner import PRECISION_KEY, compile_for_batch, stored_precision
from tfbin.files import write_atomic_files

__all__ = [
    "INSTALL_HINT",
    "OPENVINO_VERSION",
    "PRECISIONS",
    "OpenVinoUnavailableError",
    "SavedAsIR",
    "bits_constant",
    "compile_openvino",
    "ir_census",
    "ir_cost",
    "kernels",
    "model_precision",
    "openvino_predict",
    "pack_bits",
    "read_ir",
    "require_openvino",
    "save_ir",
    "serialize",
    "set_precision",
    "weights_path",
]

# The version tfbin is tested with (setup.py's "openvino" extra pins it).
OPENVINO_VERSION = "2026.4.1"
INSTALL_HINT = 'pip install "tfbin[openvino]"'
# Ops that only describe the graph: not counted in the census.
_STRUCTURAL_OPS = {"Parameter", "Result", "Constant"}


class OpenVinoUnavailableError(ConversionError):
    """OpenVINO is not installed, or the installed one cannot run binary convolutions."""


def _import_openvino():
    try:
        import openvino
    except ImportError as error:
        raise OpenVinoUnavailableError(
            f"the OpenVINO target needs the openvino package, which is not installed ({error}); "
            f"install tfbin's extra: {INSTALL_HINT}"
        ) from error
    return openvino


@functools.lru_cache(maxsize=None)
def _checked_openvino():
    ov = _import_openvino()
    from openvino import opset1

    version = ov.get_version()
    if not hasattr(opset1, "binary_convolution"):
        raise OpenVinoUnavailableError(
            f"OpenVINO {version} has no BinaryConvolution op (its maintainers call it obsolete); "
            f"tfbin needs openvino=={OPENVINO_VERSION}: {INSTALL_HINT}"
        )
    parameter = opset1.parameter([1, 8, 3, 3], np.float32)
    probe = opset1.binary_convolution(
        parameter, bits_constant(ov, np.ones((1, 8, 1, 1), np.float32)), [1, 1], [0, 0], [0, 0], [1, 1],
        "xnor-popcount", 1.0,
    )
    probe.set_friendly_name("probe")
    supported = ov.Core().query_model(ov.Model([probe], [parameter]), "CPU")
    if "probe" not in supported:
        raise OpenVinoUnavailableError(
            f"OpenVINO {version}'s CPU plugin does not run BinaryConvolution; "
            f"tfbin needs openvino=={OPENVINO_VERSION}: {INSTALL_HINT}"
        )
    return ov


def require_openvino():
    """The `openvino` module, once it is known to run BinaryConvolution on this CPU.

    Raises `OpenVinoUnavailableError` saying what to install otherwise.
    """
    return _checked_openvino()


def pack_bits(kernel):
    """An OIHW array of +-1 (or 0/1) as OpenVINO's `u1` bytes: 1 for positive, least significant bit first."""
    return np.packbits((np.asarray(kernel) > 0).reshape(-1).astype(np.uint8), bitorder="little")


def bits_constant(ov, kernel):
    """A Constant op of OpenVINO type u1 holding an OIHW kernel's signs (see `pack_bits`)."""
    tensor = ov.Tensor(pack_bits(kernel), ov.Shape(list(kernel.shape)), ov.Type.u1)
    # The tensor wraps the packed array without owning it: the constant copies.
    return ov.op.Constant(tensor, shared_memory=False)


# -- precision and compiling -------------------------------------------------------

def set_precision(ir, precision):
    """Stores `precision` ("f32" or "bf16") as `ir`'s inference precision, in its runtime options."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
    ir.set_rt_info(precision, PRECISION_KEY)


def model_precision(ir):
    """The inference precision stored in `ir` by `set_precision`; "f32" when it has none."""
    return stored_precision(ir)


def compile_openvino(ir, threads=None, batch=1, precision=None):
    """Compiles an OpenVINO model for this CPU, for latency (one stream).

    `threads`: inference threads (OpenVINO's choice when None). `batch`: the
    batch size to fix (BinaryConvolution runs only with static shapes).
    `precision`: "f32" or "bf16" for float layers, by default the one stored
    in the model (`model_precision`).
    """
    require_openvino()
    return compile_for_batch(ir, batch, threads, precision)


def _with_batch(shape, batch):
    dims = [batch] + [d.get_length() if d.is_static else -1 for d in list(shape)[1:]]
    return dims


def openvino_predict(ir, x, threads=None, batch_size=32, precision=None):
    """Runs an `openvino.Model` over `x` in batches of `batch_size`, at `precision` (see `compile_openvino`).

    Returns one array per output.
    """
    x = np.asarray(x, np.float32)
    batch = max(1, min(batch_size, len(x)))
    compiled = compile_openvino(ir, threads, batch=batch, precision=precision)
    request = compiled.create_infer_request()
    chunks = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), np.float32)])
        request.infer({0: padded})
        chunks.append([request.get_output_tensor(i).data[: len(chunk)].copy() for i in range(len(compiled.outputs))])
    outputs = [np.concatenate([chunk[i] for chunk in chunks]) for i in range(len(compiled.outputs))]
    return outputs if len(outputs) > 1 else outputs[0]



def ir_census(ir):
    """Operator type -> count of an OpenVINO model, constants, parameters and results left out."""
    counts = {}
    for node in ir.get_ordered_ops():
        kind = node.get_type_name()
        if kind not in _STRUCTURAL_OPS:
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def ir_cost(ir):
    """Bit-OPs (binary MACs of BinaryConvolution) and FLOPs (MACs of float convolutions and MatMul) per sample.

    The conventions of `tfbin.cost`. Needs static spatial sizes; the batch is taken as 1.
    """
    ir = ir.clone()
    ir.reshape({p.output(0): _with_batch(p.get_partial_shape(), 1) for p in ir.get_parameters()})
    bit_ops = flops = 0
    for node in ir.get_ordered_ops():
        kind = node.get_type_name()
        if kind not in ("BinaryConvolution", "Convolution", "GroupConvolution", "MatMul"):
            continue
        out = node.get_output_partial_shape(0)
        if out.is_dynamic:
            raise ValueError(f"{ir.get_friendly_name()}: sizes are not static, so its cost is unknown")
        out = [d.get_length() for d in out]
        weights = [d.get_length() for d in node.get_input_partial_shape(1)]
        if kind == "MatMul":
            inner = weights[1] if node.get_attributes()["transpose_b"] else weights[0]
            macs = int(np.prod(out)) * inner
        elif kind == "GroupConvolution":
            macs = int(np.prod(weights[:3])) * int(np.prod(weights[3:])) * int(np.prod(out[2:]))
        else:
            macs = int(np.prod(weights)) * int(np.prod(out[2:]))
        if kind == "BinaryConvolution":
            bit_ops += macs
        else:
            flops += macs
    return {"bit_ops": bit_ops, "flops": flops, "ops": bit_ops / 64 + flops}


def kernels(compiled):
    """How the CPU plugin runs each BinaryConvolution: primitive name -> count (e.g. {"jit_avx2_u1": 16})."""
    counts = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        if info["layerType"].astype(str) == "BinaryConvolution":
            primitive = info["primitiveType"].astype(str)
            counts[primitive] = counts.get(primitive, 0) + 1
    return counts


def serialize(ir):
    """(xml bytes, bin bytes) of an OpenVINO model, float weights kept in float32."""
    ov = require_openvino()
    with tempfile.TemporaryDirectory() as directory:
        xml = os.path.join(directory, "model.xml")
        ov.save_model(ir, xml, compress_to_fp16=False)
        with open(xml, "rb") as f, open(xml[:-4] + ".bin", "rb") as g:
            return f.read(), g.read()


def weights_path(xml_path):
    """`model.xml` -> `model.bin`, where OpenVINO looks for the weights."""
    return (xml_path[:-4] if xml_path.endswith(".xml") else xml_path) + ".bin"


def _check_xml_path(path):
    if not str(path).endswith(".xml"):
        raise ValueError(f"path={str(path)!r}: an OpenVINO model is written as NAME.xml (with NAME.bin beside it)")


def save_ir(ir, path):
    """Writes `path` (.xml) and its .bin beside it, both or (on an error) neither; returns their total size in bytes."""
    _check_xml_path(path)
    xml, weights = serialize(ir)
    write_atomic_files({weights_path(str(path)): weights, str(path): xml})
    return len(xml) + len(weights)



def _check_ir_xml(path):
    """ValueError unless `path` parses as XML whose root is an IR's <net> with <layers>.

    OpenVINO hands a file its IR reader refuses to every other frontend it
    has, which log their own refusals to stderr; a file that is not IR at
    all is turned away here first.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path!r} is not an OpenVINO .xml file: not well-formed XML ({error})") from None
    if root.tag != "net" or root.find("layers") is None:
        raise ValueError(f"{path!r} is not an OpenVINO .xml file: its root is <{root.tag}>, not <net> with <layers>")


def read_ir(path):
    """The `openvino.Model` in `path` (.xml, with its .bin beside it); ValueError naming the file otherwise."""
    ov = require_openvino()
    if not str(path).endswith(".xml") or not os.path.isfile(path):
        raise ValueError(f"{path!r} is not an OpenVINO .xml file")
    if not os.path.isfile(weights_path(str(path))):
        raise ValueError(f"{path!r}: its weights {weights_path(str(path))!r} are missing")
    _check_ir_xml(path)
    try:
        return ov.Core().read_model(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path!r} is not a readable OpenVINO model: {str(error).strip().splitlines()[-1]}") from None


class SavedAsIR:
    """`size_bytes` and `save` for a result that holds an OpenVINO model in its `model` field."""

    @functools.cached_property
    def _serialized(self):
        return serialize(self.model)

    @property
    def size_bytes(self):
        """Bytes of the .xml and the .bin together."""
        return sum(len(part) for part in self._serialized)

    def files(self, path):
        """{path: bytes} of NAME.bin and `path` (NAME.xml), for `tfbin.files.write_atomic_files`."""
        _check_xml_path(path)
        xml, weights = self._serialized
        return {weights_path(str(path)): weights, str(path): xml}

    def save(self, path):
        """Writes `path` (NAME.xml) and NAME.bin beside it, both or (on an error) neither."""
        write_atomic_files(self.files(path))
