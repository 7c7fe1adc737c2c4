"""The export rules behind `tfbin.pruning.strip_pruning`: one rule per layer type.

The first of strip_pruning's passes (`tfbin.passes`), `apply_rules`, rebuilds
a model layer by layer. For each layer it looks up
an export rule along the layer's class hierarchy (the most specific class
first) and puts what the rule returns in the layer's place; layers without a
rule are copied. Larq Compute Engine (LCE) then turns what is left into
binary operators. A new layer type plugs in with the `export_rule`
decorator:

```python
import tfbin
import larq as lq
import tensorflow as tf
from tfbin import export, pruning

class ShiftedConv(lq.layers.QuantConv2D):        # a training-time layer ...
    pass

@export.export_rule(ShiftedConv)
def _plain(layer, context):                       # ... exported as a plain QuantConv2D
    conv = lq.layers.QuantConv2D.from_config({**layer.get_config(), "name": layer.name})
    return context.with_weights(conv, layer.get_weights())

inputs = tf.keras.Input((8, 8, 32))
model = tf.keras.Model(inputs, ShiftedConv(32, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign")(inputs))
type(pruning.strip_pruning(model).layers[-1]).__name__    # 'QuantConv2D'
```

A rule is `rule(layer, context) -> callable or None`: the callable is applied
to the layer's inputs in its place (it may build several layers), None keeps
a copy of the layer. `ExportContext` lets a rule fold a BatchNormalization
that reads only its layer (`foldable_batch_norm`, `absorb`).

The rules tfbin ships (those of `MultiBaseConv2D` and `SubBitConv2D` through
their convolution kinds, `tfbin.kinds`):

- `MultiBaseConv2D`: one larq `QuantConv2D` per distinct activation base
  (threshold), its kernel the live weight bases stacked along the output
  channels, each scaled per channel (`stacked_kernels`), then a sum of the
  slices (`SumOfSlices`) and of the activation bases (`Add`). Activation
  bases with equal thresholds are the same binary tensor, so their scales add
  and they share one convolution. Measured against one `QuantConv2D` per live
  (m, n) pair (`benchmarks/deploy.py`, ResNet-18 at 224x224): a third of the
  LceBconv2d ops for MBN 3/3 (48 vs 144), a slightly smaller file, half the
  strip and LCE conversion time for MBN 2/2, latency on x86 equal within
  the noise of a shared host (MBN 3/3 1846 vs 1841 ms; MBN 2/2 901 vs 763 ms
  in the same noisy run), and every dilated layer stays binary, because LCE
  turns a dilated convolution into a binary one only when no other
  convolution reads the same SpaceToBatchND (TensorFlow's dilated-convolution rewrite requires a single
  user, and identical SpaceToBatchND ops are merged first).
- `SubBitConv2D`, and larq `QuantConv2D` layers with IR-Net's `LibraSign` or
  `ErrorDecaySign`: a plain `QuantConv2D` with the +-scale kernel the layer
  computes with and a `ste_sign` input.
- larq `QuantDense` and `QuantConv1D` with binary input and kernel: a 1x1
  (1 x k) binary `QuantConv2D` between two reshapes, since LCE has binary 2D
  convolutions only.

After the rules come the other passes of `tfbin.passes`: STQ's masked 2D
filters are removed, and the target's own passes run (for LCE, dilated
convolutions that read one tensor are merged, for the same SpaceToBatchND
reason).
"""
import larq as lq
import numpy as np
import tensorflow as tf

from tfbin import graph, kinds
from tfbin.cost import is_binary_layer, is_one_bit
from tfbin.layers import SubBitConv2D
from tfbin.quantizers import ErrorDecaySign, LibraSign, ShiftedSign
from tfbin.registry import register
from tfbin.validation import check_int

__all__ = [
    "EXPORT_RULES",
    "ChannelSlice",
    "ConstantPad",
    "ExportContext",
    "SumOfSlices",
    "apply_rules",
    "binary_conv",
    "copy_quantizer",
    "effective_kernel",
    "export_rule",
    "is_fully_binary",
    "stacked_kernels",
]

# Layer class -> rule(layer, context); see the module docstring. The layer
# classes of convolution kinds (`tfbin.kinds`) have their kind's rule instead.
EXPORT_RULES = {}


def export_rule(layer_class):
    """Registers the decorated function as the export rule of `layer_class` (and of subclasses without their own)."""

    def register_rule(rule):
        EXPORT_RULES[layer_class] = rule
        return rule

    return register_rule


def rule_for(layer):
    """The export rule of `layer`'s most specific class that has one (its kind's, or registered here), or None."""
    return kinds.rule_for(layer, {**EXPORT_RULES, **kinds.rules("export")})


class ExportContext:
    """What an export rule may use besides its layer: folding the layer that reads it."""

    def __init__(self):
        self._absorbed = set()

    def foldable_batch_norm(self, layer):
        """The BatchNormalization that alone reads `layer`'s output (on the channel axis), or None.

        Only for a layer without activation: the fold must come before it.
        """
        readers = graph.consumers(layer)
        if not readers or len(readers) != 1 or getattr(layer, "activation", None) is not tf.keras.activations.linear:
            return None
        reader = readers[0]
        if isinstance(reader, tf.keras.layers.BatchNormalization) and list(reader.axis) in ([3], [-1]):
            return reader
        return None

    def absorb(self, layer):
        """Marks `layer` as folded into a rule's output: it becomes the identity."""
        self._absorbed.add(id(layer))

    def absorbed(self, layer):
        return id(layer) in self._absorbed

    @staticmethod
    def with_weights(new_layer, weights):
        """A callable that applies `new_layer` and then sets its `weights` (it builds on first call)."""

        def apply(inputs):
            outputs = new_layer(inputs)
            new_layer.set_weights(weights)
            return outputs

        return apply


def batch_norm_affine(bn):
    """(scale, shift) per channel of an inference-mode BatchNormalization."""
    scale = tf.keras.backend.get_value(bn.gamma) if bn.scale else 1.0
    shift = tf.keras.backend.get_value(bn.beta) if bn.center else 0.0
    inv_std = 1.0 / np.sqrt(tf.keras.backend.get_value(bn.moving_variance) + bn.epsilon)
    scale = scale * inv_std
    return scale, shift - tf.keras.backend.get_value(bn.moving_mean) * scale


# -- the layers exports are built from -------------------------------------------


@register
class SumOfSlices(tf.keras.layers.Layer):
    """Sums `parts` equal slices of the channel axis: (..., parts * C) -> (..., C).

    The outputs of a stacked binary convolution (one slice per weight base)
    are summed by this: a RESHAPE and a SUM in TFLite.

    ```python
    import tfbin
    import tensorflow as tf

    tfbin.export.SumOfSlices(2)(tf.constant([[1.0, 2.0, 10.0, 20.0]]))   # [[11., 22.]]
    ```
    """

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.parts = check_int("parts", parts, minimum=1)

    def call(self, inputs):
        channels = inputs.shape[-1] // self.parts
        if None in inputs.shape[1:-1]:
            shape = tf.concat([tf.shape(inputs)[:-1], [self.parts, channels]], axis=0)
        else:
            shape = [-1, *inputs.shape[1:-1], self.parts, channels]
        return tf.reduce_sum(tf.reshape(inputs, shape), axis=-2)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([*input_shape[:-1], input_shape[-1] // self.parts])

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


@register
class ChannelSlice(tf.keras.layers.Layer):
    """Channels [begin, begin + size) of the last axis (a STRIDED_SLICE in TFLite).

    ```python
    import tfbin
    import tensorflow as tf

    tfbin.export.ChannelSlice(1, 2)(tf.constant([[1.0, 2.0, 3.0, 4.0]]))   # [[2., 3.]]
    ```
    """

    def __init__(self, begin, size, **kwargs):
        super().__init__(**kwargs)
        self.begin = check_int("begin", begin, minimum=0)
        self.size = check_int("size", size, minimum=1)

    def call(self, inputs):
        return inputs[..., self.begin : self.begin + self.size]

    def get_config(self):
        return {**super().get_config(), "begin": self.begin, "size": self.size}


def copy_quantizer(quantizer):
    """A new quantizer with `quantizer`'s class and settings (None stays None)."""
    return lq.quantizers.get(lq.quantizers.serialize(quantizer)) if quantizer is not None else None


def effective_kernel(layer):
    """The kernel a quantized layer computes with: its kernel quantizer applied to the latent weights."""
    latent = tf.keras.backend.get_value(getattr(layer.kernel, "latent_variable", layer.kernel))
    quantizer = getattr(layer, "kernel_quantizer", None)
    if quantizer is None:
        return latent
    return tf.keras.backend.get_value(quantizer(tf.constant(latent)))


def binary_conv(name, kernel, bias, input_quantizer, **conv_kwargs):
    """A larq QuantConv2D with a constant +-scale kernel and the given input quantizer, built and set."""
    conv = lq.layers.QuantConv2D(
        kernel.shape[-1],
        kernel.shape[:2],
        use_bias=bias is not None,
        input_quantizer=input_quantizer,
        name=name,
        **conv_kwargs,
    )
    conv.build((None, None, None, kernel.shape[2]))
    conv.set_weights([kernel] if bias is None else [kernel, bias])
    return conv


# -- MultiBaseConv2D --------------------------------------------------------------


def _live_groups(layer):
    """{threshold: {m: [n, ...]}}: the live (m, n) pairs grouped by activation base threshold."""
    pairs = layer.live_pairs()
    if not pairs:
        raise ValueError(f"{layer.name}: every binary convolution is pruned; nothing to export")
    thresholds = np.asarray(tf.keras.backend.get_value(layer.thresholds), np.float32)
    groups = {}
    for m, n in sorted(pairs, key=lambda pair: (pair[1], pair[0])):
        groups.setdefault(float(thresholds[n]), {}).setdefault(m, []).append(n)
    return groups


def stacked_kernels(layer, scale=1.0):
    """The export of a `MultiBaseConv2D`: one (threshold, kernel, parts) per distinct activation base.

    Each kernel stacks the live weight bases B_m along the output channels,
    base m scaled per channel by the sum of c_nm over the activation bases n
    with that threshold (c = gamma_mn alpha_m beta_n, times `scale`, e.g. a
    folded BatchNorm's); `parts` is the number of bases stacked. Kernels have
    shape (kh, kw, cin, parts * filters); thresholds come in order of first
    appearance.
    """
    groups = _live_groups(layer)
    coefficients = tf.keras.backend.get_value(layer.coefficients()) * scale  # (N, M, filters)
    latent = tf.keras.backend.get_value(layer.kernel.latent_variable)
    filters = layer.filters
    signs = {}
    stacked = []
    for threshold, bases in groups.items():
        columns = []
        for m, ns in bases.items():
            if m not in signs:  # B_m, as MultiBaseConv2D.weight_base(m) gives it
                signs[m] = np.where(latent[..., m * filters : (m + 1) * filters] >= 0, 1.0, -1.0).astype(np.float32)
            columns.append(signs[m] * np.sum(coefficients[ns, m], axis=0).astype(np.float32))
        stacked.append((threshold, np.concatenate(columns, axis=-1), len(columns)))
    return stacked


def export_multi_base(layer, context):
    """The export rule of `MultiBaseConv2D` (kind "mbn"): one `QuantConv2D` per distinct threshold, summed."""
    # One convolution with one weight base is a BNN layer: LCE folds the
    # BatchNormalization after it by itself. After a sum it cannot, so the
    # BatchNormalization folds into the kernels here:
    # BN(sum_i conv_i + b) = sum_i conv_i * s + (b s + t).
    groups = _live_groups(layer)
    several = len(groups) > 1 or len(next(iter(groups.values()))) > 1
    batch_norm = context.foldable_batch_norm(layer) if several else None
    bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
    scale = 1.0
    if batch_norm is not None:
        context.absorb(batch_norm)
        scale, shift = batch_norm_affine(batch_norm)
        bias = (0.0 if bias is None else bias) * scale + shift
    stacked = stacked_kernels(layer, scale)
    conv_kwargs = dict(
        strides=layer.strides, padding=layer.padding, pad_values=layer.pad_values, dilation_rate=layer.dilation_rate
    )
    clip = layer.input_quantizer.clip_value
    convs, counts = [], []
    for i, (threshold, kernel, count) in enumerate(stacked):
        conv_bias = None
        if bias is not None and i == 0:  # the bias is added once, to the first slice
            conv_bias = np.zeros(kernel.shape[-1], np.float32)
            conv_bias[: layer.filters] = bias
        name = layer.name if len(stacked) == 1 else f"{layer.name}_t{i}"
        convs.append(binary_conv(name, kernel, conv_bias, ShiftedSign(threshold, clip_value=clip), **conv_kwargs))
        counts.append(count)
    # Activation bases with the same number of weight bases are added before
    # their slices are summed (fewer operators); otherwise each is summed first.
    add_first = len(set(counts)) == 1
    if add_first:
        sums = [SumOfSlices(counts[0], name=f"{layer.name}_bases")] if counts[0] > 1 else [None]
    else:
        sums = [SumOfSlices(count, name=f"{conv.name}_bases") if count > 1 else None for conv, count in zip(convs, counts)]
    add = tf.keras.layers.Add(name=f"{layer.name}_sum") if len(convs) > 1 else None
    activation = (
        tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
        if layer.activation is not tf.keras.activations.linear
        else None
    )

    def total(summing, y):
        return summing(y) if summing else y

    def apply(inputs):
        outputs = [conv(inputs) for conv in convs]
        if add_first:
            y = total(sums[0], add(outputs) if add else outputs[0])
        else:
            y = add([total(summing, output) for summing, output in zip(sums, outputs)])
        return activation(y) if activation else y

    return apply


# -- sub-bit (SNN) and IR-Net layers: computed kernel in, plain larq layer out ------


def _export_latent_kernel(layer):
    """The layer as a larq `QuantConv2D` whose kernel is the +-scale kernel it computes with.

    A sub-bit layer's kernel is its chosen codebook members (Larq Compute
    Engine stores them at 1 bit per weight; `tfbin.subbit` stores tau bits per
    kernel); a `LibraSign` kernel is its binarized, power-of-two-scaled
    latent kernel. `ErrorDecaySign` inputs become `ste_sign`: the same sign
    forward, the training-only estimator and its t dropped.
    """
    kernel = layer.binary_kernel() if isinstance(layer, SubBitConv2D) else effective_kernel(layer)
    quantizer = layer.input_quantizer
    quantizer = "ste_sign" if isinstance(quantizer, ErrorDecaySign) else copy_quantizer(quantizer)
    bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
    return binary_conv(
        layer.name, np.asarray(kernel, np.float32), bias, quantizer, strides=layer.strides, padding=layer.padding,
        pad_values=layer.pad_values, dilation_rate=layer.dilation_rate, activation=layer.activation,
    )


def export_sub_bit(layer, context):
    """The export rule of `SubBitConv2D` (kind "snn"): a `QuantConv2D` of its chosen codebook members."""
    return _export_latent_kernel(layer)


@export_rule(lq.layers.QuantConv2D)
def _export_ir_net(layer, context):
    """IR-Net's quantizers on a plain larq convolution; any other QuantConv2D is copied."""
    if isinstance(layer.kernel_quantizer, LibraSign) or isinstance(layer.input_quantizer, ErrorDecaySign):
        return _export_latent_kernel(layer)
    return None


# -- binary Dense and Conv1D as 2D binary convolutions ------------------------------


def is_fully_binary(layer):
    """A layer with a 1-bit input quantizer and a 1-bit kernel: one LCE and OpenVINO run as binary."""
    return is_one_bit(getattr(layer, "input_quantizer", None)) and is_binary_layer(layer)


def _as_binary_conv2d(layer, kernel, **conv_kwargs):
    bias = tf.keras.backend.get_value(layer.bias) if layer.use_bias else None
    conv = lq.layers.QuantConv2D(
        kernel.shape[-1],
        kernel.shape[:2],
        use_bias=bias is not None,
        activation=layer.activation,
        input_quantizer=copy_quantizer(layer.input_quantizer),
        name=layer.name,
        **conv_kwargs,
    )
    conv.build((None, None, None, kernel.shape[2]))
    conv.set_weights([kernel] if bias is None else [kernel, bias])
    return conv


@export_rule(lq.layers.QuantDense)
def _export_binary_dense(layer, context):
    # LCE has no binary Dense op (LCE#53); a 1x1 binary convolution with the
    # features as channels is one LceBconv2d.
    rows = tuple(layer.input_shape[1:-1])
    if not is_fully_binary(layer) or rows.count(None) > 1:
        return None  # LCE runs it as float; the converter names it
    kernel = effective_kernel(layer).astype(np.float32)  # (features, units)
    conv = _as_binary_conv2d(layer, kernel[None, None])
    rows = tuple(-1 if d is None else d for d in rows)
    height = -1 if -1 in rows else int(np.prod(rows))

    def apply(inputs):
        x = tf.keras.layers.Reshape((height, 1, kernel.shape[0]), name=f"{layer.name}_as_image")(inputs)
        return tf.keras.layers.Reshape((*rows, kernel.shape[1]), name=f"{layer.name}_as_features")(conv(x))

    return apply


@export_rule(lq.layers.QuantConv1D)
def _export_binary_conv1d(layer, context):
    if not is_fully_binary(layer) or layer.padding == "causal" or layer.data_format != "channels_last":
        return None
    kernel = effective_kernel(layer).astype(np.float32)  # (k, cin, filters)
    conv = _as_binary_conv2d(
        layer,
        kernel[None],
        strides=(1, layer.strides[0]),
        padding=layer.padding,
        pad_values=layer.pad_values,
        dilation_rate=(1, layer.dilation_rate[0]),
        groups=layer.groups,
    )

    def apply(inputs):
        x = tf.keras.layers.Reshape((1, -1, inputs.shape[-1]), name=f"{layer.name}_as_image")(inputs)
        y = conv(x)
        return tf.keras.layers.Reshape((-1, kernel.shape[-1]), name=f"{layer.name}_as_sequence")(y)

    return apply


# -- layers that export passes build ------------------------------------------------------


@register
class ConstantPad(tf.keras.layers.Layer):
    """Pads height and width by `padding` ((top, bottom), (left, right)) with `value`.

    ```python
    import tfbin
    import tensorflow as tf

    tfbin.export.ConstantPad(((1, 0), (0, 1)), -1.0)(tf.zeros((1, 1, 1, 1)))[0, ..., 0]   # [[-1, -1], [0, -1]]
    ```
    """

    def __init__(self, padding, value, **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        self.value = float(value)

    def call(self, inputs):
        return tf.pad(inputs, [(0, 0), *self.padding, (0, 0)], constant_values=self.value)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


def apply_rules(model):
    """The export pass of the rules: every layer of `model` through its export rule (the others copied)."""
    context = ExportContext()

    def replace(layer):
        if context.absorbed(layer):
            return lambda inputs, **kwargs: inputs
        rule = rule_for(layer)
        return rule(layer, context) if rule else None

    return graph.rewrite(model, replace)
