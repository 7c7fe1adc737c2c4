"""Binary kernel codebooks of sub-bit networks (SNN), in numpy.

A sub-bit layer restricts every binary unit (a 3x3 kernel of 9 weights, or a
1x1 vector of 8 input channels) to a layer-specific subset, the codebook, of
2^tau of the 2^d possible +-1 units (d = 9 or 8). A unit is stored as its
index into the codebook: tau bits instead of d.

Conventions shared by the layer, the refinement callback, the cost model and
the compact export:

- a +-1 unit of d entries is numbered by its pattern `sum_i (u_i > 0) 2^i`,
  entry i being bit i (0..2^d - 1);
- a 3x3 kernel of shape (3, 3, cin, cout) is cut into cin * cout units, unit
  `i * cout + o` holding kernel[:, :, i, o] in row-major (kh, kw) order;
- a 1x1 kernel of shape (1, 1, cin, cout) is cut into cin / 8 * cout units,
  unit `g * cout + o` holding input channels 8g..8g+7 of output channel o;
- bit streams are packed least significant bit first.

```python
import numpy as np
from tfbin import codebooks

rng = np.random.default_rng(0)
book = codebooks.random_codebook(tau=3, unit=9, rng=rng)   # 8 distinct patterns of 0..511
codebooks.patterns_to_units(book, 9).shape                 # (8, 9), entries +-1
packed = codebooks.pack_bits(np.array([5, 1, 7]), bits=3)  # 9 bits in 2 bytes
codebooks.unpack_bits(packed, bits=3, count=3)             # [5, 1, 7]
```
"""
import numpy as np

__all__ = [
    "UNIT_SIZES",
    "kernel_to_units",
    "pack_bits",
    "patterns_to_units",
    "random_codebook",
    "recluster",
    "refresh",
    "unit_size",
    "units_to_kernel",
    "units_to_patterns",
    "unpack_bits",
]

# Entries per binary unit: a 3x3 kernel, or 8 input channels of a 1x1 kernel.
UNIT_SIZES = {(3, 3): 9, (1, 1): 8}


def unit_size(kernel_size):
    """9 for a 3x3 kernel, 8 for a 1x1 kernel; ValueError otherwise."""
    kernel_size = tuple(int(k) for k in kernel_size)
    if kernel_size not in UNIT_SIZES:
        raise ValueError(f"kernel_size must be (3, 3) or (1, 1) for sub-bit kernels, got {kernel_size}")
    return UNIT_SIZES[kernel_size]


def patterns_to_units(patterns, unit):
    """Pattern numbers (n,) -> +-1 float32 units (n, unit)."""
    patterns = np.asarray(patterns, np.int64)
    bits = (patterns[:, None] >> np.arange(unit)) & 1
    return np.where(bits == 1, 1.0, -1.0).astype(np.float32)


def units_to_patterns(units):
    """+-1 units (n, d) -> pattern numbers (n,); an entry > 0 is bit 1."""
    units = np.asarray(units)
    return ((units > 0).astype(np.int64) << np.arange(units.shape[1])).sum(axis=1)


def kernel_to_units(kernel):
    """A (kh, kw, cin, cout) kernel as its units, shape (units, d) (see the module's layout)."""
    kernel = np.asarray(kernel)
    kh, kw, cin, cout = kernel.shape
    d = unit_size((kh, kw))
    if d == 9:
        return np.transpose(kernel, (2, 3, 0, 1)).reshape(cin * cout, 9)
    if cin % 8:
        raise ValueError(f"a 1x1 sub-bit kernel needs input channels in multiples of 8, got {cin}")
    return np.transpose(kernel.reshape(cin // 8, 8, cout), (0, 2, 1)).reshape(cin // 8 * cout, 8)


def units_to_kernel(units, shape):
    """The inverse of `kernel_to_units` for a kernel of `shape` (kh, kw, cin, cout)."""
    kh, kw, cin, cout = shape
    units = np.asarray(units)
    if unit_size((kh, kw)) == 9:
        return np.transpose(units.reshape(cin, cout, 3, 3), (2, 3, 0, 1))
    return np.transpose(units.reshape(cin // 8, cout, 8), (0, 2, 1)).reshape(1, 1, cin, cout)


def random_codebook(tau, unit, rng):
    """2^tau distinct pattern numbers drawn uniformly from the 2^unit, in random order."""
    return rng.choice(2**unit, size=2**tau, replace=False).astype(np.int64)


def recluster(codebook, units, indices):
    """One refinement of a codebook from the real units mapped to it (a Lloyd step).

    Every member that some unit maps to becomes the sign of the sum of those
    units: of all +-1 patterns, the one with the largest total inner product
    with them (an entry whose sum is exactly 0 keeps its value). A unit then
    maps to its member or to a closer one. Members that no unit maps to, and
    members that became equal to an earlier one, take the most frequent sign
    patterns of the units that the codebook does not hold yet (ties: the lower
    pattern number), so the codebook keeps 2^tau distinct members, all of them
    where the kernels are; with too few such patterns, a member keeps its own
    pattern if it is free, else takes the lowest free one.

    Arguments:
        codebook: the binary members, +-1 array (2^tau, d).
        units: the real units mapped to them, array (n, d) (the layer's
            standardised latent kernel, in this module's layout).
        indices: the member each unit maps to, ints (n,).

    Returns (new codebook, number of members whose pattern changed).
    """
    codebook = np.asarray(codebook, np.float32)
    units = np.asarray(units, np.float32)
    members, d = codebook.shape
    sums = np.zeros_like(codebook)
    np.add.at(sums, np.asarray(indices, np.int64), units)
    mapped = np.bincount(indices, minlength=members) > 0
    binary = np.where(sums > 0, 1.0, np.where(sums < 0, -1.0, codebook)).astype(np.float32)
    binary[~mapped] = codebook[~mapped]
    patterns = units_to_patterns(binary)
    first = np.zeros(members, bool)
    first[np.unique(patterns, return_index=True)[1]] = True
    kept = mapped & first
    taken = set(patterns[kept].tolist())
    values, counts = np.unique(units_to_patterns(np.where(units >= 0, 1.0, -1.0)), return_counts=True)
    frequent = iter(p for p in values[np.argsort(-counts, kind="stable")].tolist() if p not in taken)
    free = iter(p for p in range(2**d) if p not in taken)
    for slot in np.flatnonzero(~kept):
        choice = next(frequent, None)
        if choice is None:
            choice = int(patterns[slot]) if int(patterns[slot]) not in taken else next(p for p in free if p not in taken)
        patterns[slot] = choice
        taken.add(choice)
    changed = int(np.sum(patterns != units_to_patterns(codebook)))
    return patterns_to_units(patterns, d), changed


def refresh(codebook, latent, rng, scale=1.0, eps=1e-3):
    """One refinement of a codebook from its trained real-valued copy.

    As in the SNN code: every entry takes the sign of its latent value unless
    that value is within `eps * scale` of zero (then it keeps its binary value), so a
    member moves towards the kernels whose gradients pushed it. Members that
    became equal to an earlier one are replaced by random patterns not yet in
    the codebook (their latent rows are reset to the new +-1 pattern), so the
    codebook keeps 2^tau distinct members; the latent copy is clipped to
    [-3 scale, 3 scale].

    Arguments:
        codebook: the binary members, +-1 array (2^tau, d).
        latent: their real-valued copy, same shape.
        rng: a numpy Generator for the refill.
        scale: the magnitude of refilled latent members (the SNN code: 1).
        eps: latent values within eps * scale of zero keep the member's binary value.

    Returns (new codebook, new latent, number of members whose pattern changed).
    """
    codebook = np.asarray(codebook, np.float32)
    latent = np.asarray(latent, np.float32)
    signs = np.where(latent >= 0, 1.0, -1.0).astype(np.float32)
    binary = np.where(np.abs(latent) >= eps * scale, signs, codebook)
    patterns = units_to_patterns(binary)
    _, first = np.unique(patterns, return_index=True)
    duplicate = np.ones(len(patterns), bool)
    duplicate[first] = False
    latent = np.clip(latent, -3.0 * scale, 3.0 * scale)
    if duplicate.any():
        d = binary.shape[1]
        unused = np.setdiff1d(np.arange(2**d), patterns[~duplicate])
        refill = rng.choice(unused, size=int(duplicate.sum()), replace=False)
        patterns[duplicate] = refill
        binary[duplicate] = patterns_to_units(refill, d)
        latent[duplicate] = binary[duplicate] * scale
    changed = int(np.sum(patterns != units_to_patterns(codebook)))
    return binary.astype(np.float32), latent.astype(np.float32), changed


def pack_bits(values, bits):
    """Non-negative ints < 2^bits as a bit stream, each value's bits LSB first; returns bytes."""
    values = np.asarray(values, np.int64).reshape(-1)
    if values.size and (values.min() < 0 or values.max() >= 2**bits):
        raise ValueError(f"values must be in 0..{2**bits - 1} to pack in {bits} bits")
    stream = ((values[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little").tobytes()


def unpack_bits(data, bits, count):
    """The `count` values of `bits` bits each from a `pack_bits` stream."""
    needed = (count * bits + 7) // 8
    if len(data) != needed:
        raise ValueError(f"{count} values of {bits} bits take {needed} bytes, got {len(data)}")
    stream = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: count * bits]
    return (stream.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)
