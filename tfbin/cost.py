"""Cost model: bit-OPs, FLOPs, OPs and parameter size of binary networks.

Conventions (as in the BNN literature):

- bit-OPs: binary multiply-accumulates of the binary layers,
  Cin * Cout * kh * kw * Hout * Wout per binary convolution; a
  `MultiBaseConv2D` costs (live binary convolutions) x that.
- FLOPs: multiply-accumulates of the float Conv2D/Dense layers (a layer whose
  input or kernel is not 1-bit counts as float). BatchNorm, pooling and adds
  are not counted.
- OPs = bit-OPs / 64 + FLOPs.
- Params in Mbit: 1 bit per live binary weight plus 32 bits per float weight,
  BatchNorm statistics, scales and thresholds included.
- PFR (STQ-Nets): pruned 2D filters / all 2D filters of the binary layers; a
  2D filter is one (input channel, filter) slice of a binary kernel. Layers
  with a `filter_mask` (`tfbin.stq.MaskedQuantConv2D`) count only their live
  2D filters in bit-OPs and binary parameters.

Sub-bit layers (`tfbin.layers.SubBitConv2D`, from "Sub-bit Neural Networks"
(SNN), ICCV 2021):

- their bit-OPs are those of the binary convolution that runs (Larq Compute
  Engine runs a sub-bit layer as a 1-bit one);
- `shared_bit_ops` is the SNN paper's computation-sharing estimate: each input
  channel is convolved once with each of the 2^tau codebook members
  (Hout * Wout * Cin * 9 * 2^tau bit-OPs; 1x1: Hout * Wout * Cin * 2^tau) and
  every output channel adds up the results its kernels select, counted as
  half a bit-OP per addition (Hout * Wout * Cin * Cout / 2; 1x1: Cin / 8
  instead of Cin), or the plain count when that is smaller. With these
  constants it reproduces the SNN code's published ResNet-18 figures
  (0.501 G at tau = 5, 0.297 G at tau = 4). The paper gives no formula for
  its 1x1 extension: this analogue comes out 19-36% below its ResNet-50
  figures (Table 6), whose #Params it matches
  (`benchmarks/results/snn_costs.md`);
- they store tau bits per 3x3 kernel (tau/9 per weight) or tau' bits per
  8-channel 1x1 vector (tau'/8 per weight), plus a codebook of 2^tau kernels
  of 9 (or 8) bits and a float scale per output channel, all in `params_mbit`.

`ModelCost.binary_mbit` is the SNN paper's "#Params (Mbit)": the stored bits
of the binary layers' weights only (1 per weight, tau/9 or tau'/8 in sub-bit
layers), with float layers, BatchNorm, scales and codebooks left out.
`ModelCost.shared_bit_ops` is the model's bit-OPs with the sharing estimate
in place of the sub-bit layers' plain count.

```python
import tfbin
from tfbin import zoo

cost = tfbin.cost.model_cost(zoo.resnet20())
print(cost.table())
snn = tfbin.cost.model_cost(zoo.resnet20(conv="snn", tau=5))
snn.binary_mbit, snn.shared_bit_ops      # the SNN paper's #Params (Mbit) and Bit-OPs
```
"""
import dataclasses

import numpy as np
import tensorflow as tf

from tfbin import kinds
from tfbin.layers import live_mask

__all__ = [
    "LayerCost",
    "ModelCost",
    "flatten_layers",
    "is_binary_layer",
    "is_one_bit",
    "layer_cost",
    "model_cost",
    "sharing_bit_ops",
]


@dataclasses.dataclass
class LayerCost:
    name: str
    kind: str  # "binary", "mbn", "snn" or "float"
    bit_ops: int
    flops: int
    binary_params: int
    float_params: int
    weight_bits: int | None = None
    activation_bits: int | None = None
    live_convolutions: int | None = None
    filters_2d: int | None = None  # 2D filters (in channels x filters) of a binary layer
    pruned_filters_2d: int | None = None  # of which masked
    # Sub-bit layers: tau bits per unit of `unit_size` weights (9: 3x3 kernel, 8: 1x1 vector).
    tau: int | None = None
    unit_size: int | None = None
    codebook_bits: int = 0
    shared_bit_ops: int | None = None

    @property
    def ops(self):
        return self.bit_ops / 64 + self.flops

    @property
    def binary_bits(self):
        """Bits storing the binary weights: 1 per weight, tau per unit in a sub-bit layer."""
        if self.tau is None:
            return self.binary_params
        return self.tau * (self.binary_params // self.unit_size)

    @property
    def params_mbit(self):
        return (self.binary_bits + self.codebook_bits + 32 * self.float_params) / 1e6


@dataclasses.dataclass
class ModelCost:
    layers: list

    @property
    def bit_ops(self):
        return sum(layer.bit_ops for layer in self.layers)

    @property
    def flops(self):
        return sum(layer.flops for layer in self.layers)

    @property
    def ops(self):
        return self.bit_ops / 64 + self.flops

    @property
    def params_mbit(self):
        return sum(layer.params_mbit for layer in self.layers)

    @property
    def binary_mbit(self):
        """The SNN paper's #Params: stored bits of the binary layers' weights, in Mbit."""
        return sum(layer.binary_bits for layer in self.layers) / 1e6

    @property
    def shared_bit_ops(self):
        """Bit-OPs with the SNN computation-sharing estimate for sub-bit layers."""
        return sum(layer.bit_ops if layer.shared_bit_ops is None else layer.shared_bit_ops for layer in self.layers)

    @property
    def float_layers(self):
        return [layer.name for layer in self.layers if layer.kind == "float" and layer.flops]

    @property
    def pfr(self):
        """Pruned 2D filters / all 2D filters of the binary layers; None without binary layers."""
        total = sum(layer.filters_2d for layer in self.layers if layer.filters_2d)
        if not total:
            return None
        return sum(layer.pruned_filters_2d for layer in self.layers if layer.filters_2d) / total

    def to_dict(self):
        return {
            "bit_ops": self.bit_ops,
            "flops": self.flops,
            "ops": self.ops,
            "params_mbit": self.params_mbit,
            "binary_mbit": self.binary_mbit,
            "shared_bit_ops": self.shared_bit_ops,
            "float_layers": self.float_layers,
            "pfr": self.pfr,
            "layers": [
                {**dataclasses.asdict(layer), "ops": layer.ops, "params_mbit": layer.params_mbit,
                 "binary_bits": layer.binary_bits}
                for layer in self.layers
            ],
        }

    def table(self):
        """A fixed-width table, one row per layer that has weights, then totals."""
        head = (
            f"{'layer':<28} {'kind':<6} {'W/A bits':>8} {'live':>5} {'bit-OPs':>12} {'FLOPs':>12} "
            f"{'OPs':>12} {'Mbit':>8}"
        )
        rows = [head, "-" * len(head)]
        for layer in self.layers:
            # A fully pruned multi-base layer has 0/0 bits, not float ones.
            bits = "32/32" if layer.weight_bits is None else f"{layer.weight_bits}/{layer.activation_bits}"
            if layer.tau is not None:
                bits = f"{layer.tau / layer.unit_size:.2f}/{layer.activation_bits}"
            live = "" if layer.live_convolutions is None else str(layer.live_convolutions)
            rows.append(
                f"{layer.name[:28]:<28} {layer.kind:<6} {bits:>8} {live:>5} "
                f"{layer.bit_ops:>12,} {layer.flops:>12,} {layer.ops:>12,.0f} {layer.params_mbit:>8.4f}"
            )
        rows.append("-" * len(head))
        rows.append(
            f"{'total':<28} {'':<6} {'':>8} {'':>5} {self.bit_ops:>12,} {self.flops:>12,} "
            f"{self.ops:>12,.0f} {self.params_mbit:>8.4f}"
        )
        rows.append(f"OPs = bit-OPs/64 + FLOPs = {self.ops:,.0f}")
        float_layers = ", ".join(self.float_layers) or "none"
        rows.append(f"counted as float (32-bit): {float_layers}")
        if self.pfr:
            rows.append(f"PFR (pruned 2D filters / all of the binary layers) = {self.pfr:.4f}")
        sub_bit = [layer for layer in self.layers if layer.tau is not None]
        if sub_bit:
            taus = ", ".join(sorted({f"{layer.tau}/{layer.unit_size}" for layer in sub_bit}))
            rows.append(
                f"sub-bit layers ({len(sub_bit)}, tau bits per unit: {taus}): binary weights "
                f"(#Params of the SNN paper, codebooks excluded) {self.binary_mbit:.4f} Mbit; "
                f"bit-OPs with computation sharing {self.shared_bit_ops:,}"
            )
        return "\n".join(rows)


def flatten_layers(model):
    """The layers of `model`, nested models expanded in place."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            yield from flatten_layers(layer)
        else:
            yield layer


def _output_pixels(layer):
    shape = layer.output_shape
    return int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


# larq's sign functions, for layers given a function rather than a Quantizer.
_SIGN_FUNCTIONS = {"sign", "ste_sign", "approx_sign", "swish_sign", "magnitude_aware_sign"}


def is_one_bit(quantizer):
    """A quantizer with `precision == 1`, or one of larq's sign functions."""
    if quantizer is None:
        return False
    if getattr(quantizer, "precision", None) == 1:
        return True
    return getattr(quantizer, "__name__", None) in _SIGN_FUNCTIONS


def is_binary_layer(layer):
    """A layer whose input and kernel are both 1-bit.

    The kernel is 1-bit through a 1-bit kernel quantizer, or by its values:
    one magnitude per output channel besides zeros, which is what
    `tfbin.pruning.strip_pruning` produces and what Larq Compute Engine turns into a
    binary convolution (zeros, e.g. pruned weights, make LCE fall back to a
    float convolution; the converter reports that).
    """
    if not hasattr(layer, "kernel") or not is_one_bit(getattr(layer, "input_quantizer", None)):
        return False
    if is_one_bit(getattr(layer, "kernel_quantizer", None)):
        return True
    kernel = tf.keras.backend.get_value(getattr(layer.kernel, "latent_variable", layer.kernel))
    magnitudes = np.abs(kernel).reshape(-1, kernel.shape[-1])
    top = magnitudes.max(axis=0, keepdims=True)
    return bool(np.any(top > 0) and np.all((magnitudes == 0) | np.isclose(magnitudes, top, rtol=1e-6)))


def _kernel_macs(layer):
    kernel = layer.kernel
    return int(np.prod(kernel.shape)) * _output_pixels(layer)


def multi_base_cost(layer):
    """The cost of a `MultiBaseConv2D`: its live binary convolutions (the rule of kind "mbn")."""
    mask = live_mask(tf.keras.backend.get_value(layer.mask))  # fading convolutions still cost
    live_m = np.flatnonzero(mask.any(axis=1))
    live_n = np.flatnonzero(mask.any(axis=0))
    base_weights = int(np.prod(layer.kernel.shape)) // layer.weight_bases
    macs = base_weights * _output_pixels(layer)
    float_params = len(live_n) + (layer.filters if layer.use_bias else 0)
    if layer.has_base_scaling:
        float_params += len(live_m) * int(layer.alpha.shape[1]) + len(live_n)
    if layer.has_operation_scaling:
        float_params += int(mask.sum())
    return LayerCost(
        name=layer.name,
        kind="mbn",
        bit_ops=int(mask.sum()) * macs,
        flops=0,
        binary_params=len(live_m) * base_weights,
        float_params=float_params,
        weight_bits=len(live_m),
        activation_bits=len(live_n),
        live_convolutions=int(mask.sum()),
    )


def _masked_cost(layer, kernel_size, filters_2d, mask):
    # Only live 2D filters cost bit-OPs and bits; the mask itself is not a parameter.
    live = int(np.count_nonzero(mask))
    window = kernel_size // filters_2d
    return LayerCost(
        name=layer.name,
        kind="binary",
        bit_ops=live * window * _output_pixels(layer),
        flops=0,
        binary_params=live * window,
        float_params=layer.count_params() - kernel_size - int(mask.size),
        weight_bits=1,
        activation_bits=1,
        filters_2d=filters_2d,
        pruned_filters_2d=filters_2d - live,
    )


def sharing_bit_ops(kernel_shape, pixels, tau):
    """The SNN computation-sharing estimate of one sub-bit layer (see the module), at most the plain count."""
    kh, kw, cin, cout = (int(n) for n in kernel_shape)
    plain = kh * kw * cin * cout * pixels
    units_per_output = cin if (kh, kw) == (3, 3) else cin // 8
    shared = pixels * cin * kh * kw * 2**tau + pixels * units_per_output * cout // 2
    return min(plain, shared)


def sub_bit_cost(layer):
    """The cost of a `SubBitConv2D` (the rule of kind "snn"; see the module)."""
    kernel_shape = layer.kernel.shape
    kernel_size = int(np.prod(kernel_shape))
    pixels = _output_pixels(layer)
    return LayerCost(
        name=layer.name,
        kind="snn",
        bit_ops=kernel_size * pixels,
        flops=0,
        binary_params=kernel_size,
        # The power-of-two scale of each output channel and the bias.
        float_params=layer.filters * (2 if layer.use_bias else 1),
        weight_bits=1,
        activation_bits=1,
        tau=layer.tau,
        unit_size=layer.unit,
        codebook_bits=2**layer.tau * layer.unit,
        shared_bit_ops=sharing_bit_ops(kernel_shape, pixels, layer.tau),
    )


def layer_cost(layer):
    """The cost of one layer, or None for layers without weights.

    A layer class with a rule of its kind (`tfbin.kinds`) is costed by it;
    other layers are binary (input and kernel 1-bit, STQ masks counted) or float.
    """
    rule = kinds.rule_for(layer, kinds.rules("cost"))
    if rule is not None:
        return rule(layer)
    if not layer.weights:
        return None
    if is_binary_layer(layer):
        kernel_size = int(np.prod(layer.kernel.shape))
        filters_2d = int(np.prod(layer.kernel.shape[2:]))
        mask = getattr(layer, "filter_mask", None)
        if mask is not None:
            return _masked_cost(layer, kernel_size, filters_2d, tf.keras.backend.get_value(mask))
        return LayerCost(
            name=layer.name,
            kind="binary",
            bit_ops=_kernel_macs(layer),
            flops=0,
            binary_params=kernel_size,
            float_params=layer.count_params() - kernel_size,
            weight_bits=1,
            activation_bits=1,
            filters_2d=filters_2d,
            pruned_filters_2d=0,
        )
    macs = _kernel_macs(layer) if hasattr(layer, "kernel") else 0
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        macs = int(np.prod(layer.depthwise_kernel.shape)) * _output_pixels(layer)
    return LayerCost(
        name=layer.name, kind="float", bit_ops=0, flops=macs, binary_params=0,
        float_params=layer.count_params(),
    )


def model_cost(model):
    """Per-layer and total cost of a built Keras model (nested models are flattened)."""
    costs = [layer_cost(layer) for layer in flatten_layers(model)]
    return ModelCost([cost for cost in costs if cost is not None])

