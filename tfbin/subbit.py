"""A compact file format that stores sub-bit kernels in tau bits each.

Larq Compute Engine stores every binary weight in 1 bit and has no codebook
format, so a sub-bit network (`tfbin.layers.SubBitConv2D`) deploys to LCE as
a plain binary network. This format stores what a sub-bit network needs:
per sub-bit layer the codebook (2^tau kernels of 9 bits, or 8-channel vectors
of 8 bits), one tau-bit index per kernel and a float scale per output
channel. Other binary kernels (+-scale per output channel) are stored in 1
bit per weight plus the scales, everything else as float32. Loading gives
the deployable model (`tfbin.pruning.strip_pruning` of the saved one) with
bit-identical weights, so it computes exactly what the stripped model does.

File layout (all integers little-endian):

    offset  size  field
    0       8     magic b"TFBINSUB"
    8       2     format version (1)
    10      2     flags (0)
    12      4     H: size of the compressed header
    16      8     P: size of the payload
    24      H     header: zlib-compressed UTF-8 JSON (below)
    24+H    P     payload: the weight blobs the header points into
    24+H+P  4     CRC-32 of every byte before it

The header is `{"model": <the stripped model's Keras JSON config>, "weights":
[entry, ...]}` with one entry per weight of the model, in
`model.get_weights()` order. Every entry has "shape" and "encoding", and its
blobs are [offset, length] pairs into the payload:

- "float32": "data", the values in C order;
- "binary": "signs", one bit per weight in C order of the (kh, kw, cin, cout)
  kernel (1: positive), and "scale", float32 (cout,), the magnitude per
  output channel;
- "subbit": "tau", "unit" (9: 3x3 kernels, 8: 1x1 vectors of 8 input
  channels), "codebook", 2^tau patterns of `unit` bits, "indices", one tau-bit
  codebook index per unit in the layout of `tfbin.codebooks`, and "scale",
  float32 (cout,). Weight = pattern bit (1: +1, 0: -1) times the scale.

Bit streams are packed least significant bit first (`tfbin.codebooks.pack_bits`).
Files are written atomically; `load` checks the magic, version, sizes,
checksum and every entry against the rebuilt model, and raises
`SubBitFormatError` naming the file and what is wrong.

```python
import os, tempfile
import numpy as np
import tfbin
from tfbin import pruning, subbit, zoo

model = zoo.digits_resnet(width=8, conv="snn", tau=5)
path = os.path.join(tempfile.mkdtemp(), "model.tfbsub")
size = subbit.save(model, path)              # bytes written
subbit.describe(open(path, "rb").read())     # bytes per encoding
loaded = subbit.load(path)                   # the deployable model, weights bit-identical
x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype("float32")
np.array_equal(loaded.predict(x, verbose=0), pruning.strip_pruning(model).predict(x, verbose=0))
```
"""
import json
import math
import struct
import zlib

import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import codebooks
from tfbin.cost import flatten_layers, is_binary_layer
from tfbin.files import write_atomic
from tfbin.layers import SubBitConv2D
from tfbin.loading import UnsafeModelError, stored_code
from tfbin.pruning import strip_pruning

__all__ = ["MAGIC", "VERSION", "SubBitFormatError", "describe", "from_bytes", "load", "save", "to_bytes"]

MAGIC = b"TFBINSUB"
VERSION = 1
_PREFIX = struct.Struct("<8sHHIQ")
_CRC = struct.Struct("<I")
ENCODINGS = ("float32", "binary", "subbit")


class SubBitFormatError(ValueError):
    """The bytes are not a valid tfbin sub-bit file (or do not match the model they describe)."""


# -- writing -------------------------------------------------------------------------


class _Payload:
    def __init__(self):
        self.data = bytearray()

    def add(self, blob):
        offset = len(self.data)
        self.data += blob
        return [offset, len(blob)]


def _float32(array):
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def _channel_magnitudes(kernel):
    """The magnitude per output channel when the kernel is exactly +-magnitude there (no zeros), else None."""
    magnitudes = np.abs(kernel).reshape(-1, kernel.shape[-1])
    top = magnitudes[0]
    if np.all(top > 0) and np.array_equal(magnitudes, np.broadcast_to(top, magnitudes.shape)):
        return top.astype(np.float32)
    return None


def _latent(variable):
    return getattr(variable, "latent_variable", variable)


def _stored_kernel(layer, latent):
    """What to store of a binary layer's kernel: the latent values, or the quantized kernel.

    A kernel quantizer that gives the same kernel again when applied to its
    own output (larq's sign quantizers) computes the same with its quantized
    kernel as latent weights, so that +-1 kernel is stored (the latent real
    values are training state); any other quantizer keeps its latent values.
    """
    if layer.kernel_quantizer is None:
        return latent
    quantized = np.asarray(tf.keras.backend.get_value(layer.kernel_quantizer(tf.constant(latent))), np.float32)
    again = np.asarray(tf.keras.backend.get_value(layer.kernel_quantizer(tf.constant(quantized))), np.float32)
    return quantized if np.array_equal(again, quantized) else latent


def _subbit_entry(source, kernel, payload):
    indices, patterns, scale = source.unit_indices(), source.codebook_patterns(), source.channel_scale()
    rebuilt = codebooks.units_to_kernel(codebooks.patterns_to_units(patterns[indices], source.unit), kernel.shape)
    if not np.array_equal(rebuilt * scale, kernel):
        raise RuntimeError(f"{source.name}: the stripped kernel is not the layer's codebook members times its scale")
    return {
        "encoding": "subbit",
        "tau": source.tau,
        "unit": source.unit,
        "codebook": payload.add(codebooks.pack_bits(patterns, source.unit)),
        "indices": payload.add(codebooks.pack_bits(indices, source.tau)),
        "scale": payload.add(_float32(scale)),
    }


def to_bytes(model):
    """The file's bytes for `model` (a model with sub-bit layers, or any functional binary model)."""
    plain = strip_pruning(model)
    sources = {layer.name: layer for layer in flatten_layers(model) if isinstance(layer, SubBitConv2D)}
    kernels = {
        _latent(layer.kernel).ref(): layer
        for layer in flatten_layers(plain)
        if isinstance(layer, lq.layers.QuantConv2D) and is_binary_layer(layer)
    }
    payload, entries = _Payload(), []
    for variable in plain.weights:
        value = np.asarray(tf.keras.backend.get_value(variable), np.float32)
        entry = {"shape": list(value.shape)}
        layer = kernels.get(_latent(variable).ref())
        if layer is not None:
            value = _stored_kernel(layer, value)
        magnitudes = None if layer is None else _channel_magnitudes(value)
        if layer is not None and layer.name in sources:
            entry.update(_subbit_entry(sources[layer.name], value, payload))
        elif magnitudes is not None:
            signs = (value > 0).reshape(-1).astype(np.int64)
            entry.update(encoding="binary", signs=payload.add(codebooks.pack_bits(signs, 1)),
                         scale=payload.add(_float32(magnitudes)))
        else:
            entry.update(encoding="float32", data=payload.add(_float32(value)))
        entries.append(entry)
    header = zlib.compress(json.dumps({"model": json.loads(plain.to_json()), "weights": entries}).encode(), 9)
    body = _PREFIX.pack(MAGIC, VERSION, 0, len(header), len(payload.data)) + header + bytes(payload.data)
    return body + _CRC.pack(zlib.crc32(body))


def save(model, path):
    """Writes `model` to `path` atomically; returns the number of bytes written."""
    data = to_bytes(model)
    write_atomic(path, data)
    return len(data)


# -- reading -------------------------------------------------------------------------


def _parse(data, where):
    """(header dict, payload bytes) after checking the framing and checksum."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SubBitFormatError(f"{where}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PREFIX.size + _CRC.size:
        raise SubBitFormatError(f"{where}: {len(data)} bytes is too short for a tfbin sub-bit file")
    magic, version, flags, header_size, payload_size = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise SubBitFormatError(f"{where}: not a tfbin sub-bit file (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise SubBitFormatError(f"{where}: format version {version} is not supported (this tfbin reads {VERSION})")
    if flags != 0:
        raise SubBitFormatError(f"{where}: unknown flags {flags:#x}")
    expected = _PREFIX.size + header_size + payload_size + _CRC.size
    if len(data) != expected:
        raise SubBitFormatError(
            f"{where}: the file has {len(data)} bytes but its sizes say {expected} (truncated or padded)"
        )
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != crc:
        raise SubBitFormatError(f"{where}: checksum mismatch: the file is corrupt")
    start = _PREFIX.size
    try:
        header = json.loads(zlib.decompress(data[start : start + header_size]).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError) as error:
        raise SubBitFormatError(f"{where}: unreadable header: {error}") from error
    if not isinstance(header, dict) or not isinstance(header.get("model"), dict) or not isinstance(
        header.get("weights"), list
    ):
        raise SubBitFormatError(f"{where}: the header needs a 'model' object and a 'weights' list")
    return header, data[start + header_size : start + header_size + payload_size]


def _int(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


def _blob(payload, entry, key, expected_length):
    span = entry.get(key)
    if not isinstance(span, list) or len(span) != 2:
        raise ValueError(f"'{key}' must be an [offset, length] pair, got {span!r}")
    offset, length = _int(span[0], f"{key} offset"), _int(span[1], f"{key} length")
    if offset + length > len(payload):
        raise ValueError(f"'{key}' points past the end of the payload ({offset} + {length} > {len(payload)})")
    if length != expected_length:
        raise ValueError(f"'{key}' has {length} bytes, expected {expected_length}")
    return payload[offset : offset + length]


def _decode(entry, payload):
    """The float32 array one header entry describes."""
    if not isinstance(entry, dict):
        raise ValueError(f"an entry must be an object, got {entry!r}")
    shape = entry.get("shape")
    if not isinstance(shape, list):
        raise ValueError(f"'shape' must be a list, got {shape!r}")
    shape = tuple(_int(n, "a dimension") for n in shape)
    size = math.prod(shape)
    encoding = entry.get("encoding")
    if encoding == "float32":
        return np.frombuffer(_blob(payload, entry, "data", 4 * size), "<f4").reshape(shape).astype(np.float32)
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r} (known: {', '.join(ENCODINGS)})")
    if len(shape) != 4 or shape[-1] == 0:
        raise ValueError(f"a {encoding} kernel needs a (kh, kw, cin, cout) shape, got {shape}")
    scale = np.frombuffer(_blob(payload, entry, "scale", 4 * shape[-1]), "<f4").astype(np.float32)
    if encoding == "binary":
        signs = codebooks.unpack_bits(_blob(payload, entry, "signs", (size + 7) // 8), 1, size)
        return (np.where(signs == 1, 1.0, -1.0).reshape(shape) * scale).astype(np.float32)
    unit = entry.get("unit")
    if unit not in (8, 9) or codebooks.UNIT_SIZES.get(shape[:2]) != unit or (unit == 8 and shape[2] % 8):
        raise ValueError(f"unit {unit!r} does not fit a kernel of shape {shape}")
    tau = entry.get("tau")
    if isinstance(tau, bool) or not isinstance(tau, int) or not 1 <= tau <= unit:
        raise ValueError(f"tau must be an int in 1..{unit}, got {tau!r}")
    units = size // unit
    patterns = codebooks.unpack_bits(_blob(payload, entry, "codebook", (2**tau * unit + 7) // 8), unit, 2**tau)
    indices = codebooks.unpack_bits(_blob(payload, entry, "indices", (units * tau + 7) // 8), tau, units)
    members = codebooks.patterns_to_units(patterns[indices], unit)
    return (codebooks.units_to_kernel(members, shape) * scale).astype(np.float32)


def from_bytes(data, name="<bytes>", safe_mode=True):
    """The deployable Keras model stored in `data` (see the module for the layout).

    With `safe_mode` (the default), a model config that would run Python code
    stored in it (a `Lambda` holding bytecode) raises `tfbin.loading.UnsafeModelError`
    before the model is rebuilt; pass `safe_mode=False` only for files you trust.
    """
    header, payload = _parse(data, name)
    findings = stored_code(header["model"]) if safe_mode else []
    if findings:
        raise UnsafeModelError(name, findings)
    try:
        model = tf.keras.models.model_from_json(json.dumps(header["model"]))
    except Exception as error:  # Keras raises assorted types for a config it cannot build
        raise SubBitFormatError(f"{name}: cannot rebuild the model from its config: {error}") from error
    entries = header["weights"]
    if len(entries) != len(model.weights):
        raise SubBitFormatError(f"{name}: {len(entries)} weights stored, the model has {len(model.weights)}")
    values = []
    for index, (entry, variable) in enumerate(zip(entries, model.weights)):
        try:
            value = _decode(entry, payload)
        except ValueError as error:
            raise SubBitFormatError(f"{name}: weight {index} ({variable.name}): {error}") from error
        if value.shape != tuple(variable.shape):
            raise SubBitFormatError(
                f"{name}: weight {index} ({variable.name}) has shape {value.shape}, the model needs "
                f"{tuple(variable.shape)}"
            )
        values.append(value)
    model.set_weights(values)
    return model


def load(path, safe_mode=True):
    """`from_bytes` of the file at `path`."""
    with open(path, "rb") as f:
        return from_bytes(f.read(), name=str(path), safe_mode=safe_mode)


def describe(data):
    """Bytes of the file by part: total, header, and payload per encoding (the blobs' sizes)."""
    header, payload = _parse(data, "<bytes>")
    parts = {"total_bytes": len(data), "header_bytes": len(data) - len(payload) - _PREFIX.size - _CRC.size}
    for encoding in ENCODINGS:
        parts[f"{encoding}_bytes"] = sum(
            span[1] for entry in header["weights"] if entry.get("encoding") == encoding
            for key, span in entry.items() if key not in ("shape", "encoding", "tau", "unit")
        )
    return parts
