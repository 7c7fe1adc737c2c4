"""Binary convolutions past plain 1-bit: multi-base (MBN) and sub-bit (SNN).

A `MultiBaseConv2D` approximates a real convolution by M binary weight bases
and N binary activation bases (ABC-Net, trained latent-weight-free with Bop as
in "Pruning as a Binarization Technique"):

    y = sum over live (m, n) of gamma_mn * alpha_m * beta_n * conv(A_n, B_m)

with B_m in {-1, +1} and A_n = sign(x - v_n) for trainable thresholds v_n.
A non-trainable `mask` over the M x N binary convolutions (1 live, 0 pruned, in between
while a pruned one fades out) says which are
live; `tfbin.callbacks.PruneToBinary` drives it down to one.

```python
import tfbin
import tensorflow as tf

layer = tfbin.layers.MultiBaseConv2D(16, 3, weight_bases=3, activation_bases=3, padding="same")
y = layer(tf.random.normal((2, 8, 8, 4)))  # (2, 8, 8, 16)
```

A `SubBitConv2D` (Sub-bit Neural Networks, ICCV 2021) restricts every binary
3x3 kernel (or 8-channel slice of a 1x1 kernel) to a learned, layer-specific
codebook of 2^tau members, so it is stored in tau bits instead of 9 (or 8).
"""
import larq as lq
import numpy as np
import tensorflow as tf
from larq import context

from tfbin import codebooks
from tfbin.initializers import RandomSign
from tfbin.quantizers import ErrorDecaySign, ShiftedSign, WeightBaseSign, error_decay_gradient, libra_standardize
from tfbin.registry import register
from tfbin.validation import check_int, check_number, check_one_of

__all__ = ["MultiBaseConv2D", "SCALING_MODES", "MAX_BASES", "SubBitConv2D", "live_mask", "same_padding"]

SCALING_MODES = ("none", "base", "operation", "both")
MAX_BASES = 8


def live_mask(mask, include_fading=True):
    """Which of a layer's M x N binary convolutions its `mask` keeps: the one liveness rule.

    A mask entry is 1 for a live convolution, 0 for a pruned one, and in
    between for one that fades out (selected by pruning, still computed,
    costed and exported). `include_fading=False` leaves the fading ones out:
    what a pruning schedule counts and may still select.
    """
    mask = np.asarray(mask)
    return mask > 0 if include_fading else mask >= 1


def same_padding(size, kernel_size, stride, dilation):
    """(before, after) of "same" padding along an axis of `size` (an int or a scalar tensor)."""
    padded = ((size + stride - 1) // stride - 1) * stride + (kernel_size - 1) * dilation + 1
    total = tf.maximum(padded - size, 0) if tf.is_tensor(size) else max(padded - size, 0)
    return total // 2, total - total // 2


def _same_padding(layer, inputs):
    """The [before, after] padding of every axis of `inputs` that "same" padding gives `layer` (larq's rule)."""
    shape = inputs.shape if inputs.shape[1:].is_fully_defined() else tf.shape(inputs)
    first = 1 if layer.data_format == "channels_last" else 2
    spatial = [list(same_padding(shape[first + axis], size, stride, dilation))
               for axis, (stride, dilation, size) in enumerate(zip(layer.strides, layer.dilation_rate, layer.kernel_size))]
    return [[0, 0], *spatial, [0, 0]] if first == 1 else [[0, 0], [0, 0], *spatial]


def _convolve(layer, inputs, kernel):
    """`layer`'s convolution of already quantized `inputs` with `kernel`: larq's padding, bias, activation."""
    # Keras pads "same" with zeros; larq pads with pad_values (1.0 lets LCE fuse a binary convolution).
    zero_padding = not tf.is_tensor(layer.pad_values) and layer.pad_values == 0.0
    if layer.padding != "same" or zero_padding:
        outputs = layer.convolution_op(inputs, kernel)
    else:
        inputs = tf.pad(inputs, _same_padding(layer, inputs), constant_values=layer.pad_values)
        with lq.utils.patch_object(layer, "padding", "valid"):
            outputs = layer.convolution_op(inputs, kernel)
    if layer.use_bias:
        outputs = tf.nn.bias_add(outputs, layer.bias)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs


@tf.custom_gradient
def _shift(x, thresholds):
    """x - v_n for every threshold, channel c of base n at channel c * N + n.

    The interleaving matches `MultiBaseConv2D._combined_kernel`. The gradient
    is written out because TensorFlow's generic one for a broadcasting
    subtraction with an unknown batch size spends an extra pass over the
    activations (measured: a few percent of a ResNet-20 training step).
    """
    n = thresholds.shape[0]
    input_axes = list(range(x.shape.rank))
    if n == 1:
        def grad(dy):
            return dy, -tf.reshape(tf.reduce_sum(dy), (1,))

        return x - thresholds, grad

    def grad(dy):
        per_base = tf.reshape(dy, tf.concat([tf.shape(x), [n]], 0))
        return tf.reduce_sum(per_base, axis=-1), -tf.reduce_sum(per_base, axis=input_axes)

    shifted = x[..., None] - thresholds
    return tf.reshape(shifted, tf.concat([tf.shape(x)[:-1], [x.shape[-1] * n]], 0)), grad


@register
class MultiBaseConv2D(lq.layers.QuantConv2D):
    """Binary convolution with `weight_bases` x `activation_bases` binary convolutions.

    Arguments:
        filters: as for `lq.layers.QuantConv2D`.
        kernel_size: as for `lq.layers.QuantConv2D`.
        weight_bases: M, the number of +-1 weight bases (1..8).
        activation_bases: N, the number of binary activation bases (1..8).
        scaling: "none", "base" (alpha per weight base, beta per activation
            base), "operation" (gamma per binary convolution) or "both".
        alpha_per_channel: alpha has one value per output channel (True) or
            one per weight base (False).
        threshold_spread: the thresholds v_n start evenly spread over
            [-threshold_spread, threshold_spread] (0 when N = 1).

    The other arguments (strides, padding, pad_values, dilation_rate,
    activation, use_bias, ...) are as for `lq.layers.QuantConv2D`.

    The kernel variable holds the M weight bases stacked along the output
    axis, shape `(kh, kw, cin, M * filters)`, base m in `[..., m*filters:(m+1)*filters]`.

    `lq.models.summary` sees the weight bases as 1-bit, but it does not know
    about the N activation bases (its 1-bit MACs are those of one activation
    base) and it lists the thresholds, scales, mask and importance as 32-bit
    MACs. `tfbin.cost` counts the M x N live convolutions.

    ```python
    import tfbin
    import tensorflow as tf

    inputs = tf.keras.Input((8, 8, 16))
    y = tfbin.layers.MultiBaseConv2D(32, 3, weight_bases=3, activation_bases=2, padding="same",
                                     pad_values=1.0, use_bias=False)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(y))
    layer = model.layers[1]
    layer.live_pairs()          # the 6 live (m, n) binary convolutions
    layer.weight_base(0).shape  # (3, 3, 16, 32), entries +-1
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        weight_bases=1,
        activation_bases=1,
        scaling="both",
        alpha_per_channel=True,
        threshold_spread=1.0,
        input_quantizer=None,
        kernel_quantizer=None,
        kernel_initializer=None,
        kernel_constraint="weight_clip",
        **kwargs,
    ):
        self.weight_bases = check_int("weight_bases", weight_bases, 1, MAX_BASES)
        self.activation_bases = check_int("activation_bases", activation_bases, 1, MAX_BASES)
        self.scaling = check_one_of("scaling", scaling, SCALING_MODES)
        self.alpha_per_channel = bool(alpha_per_channel)
        self.threshold_spread = check_number("threshold_spread", threshold_spread, minimum=0)
        super().__init__(
            filters,
            kernel_size,
            input_quantizer=input_quantizer or ShiftedSign(),
            kernel_quantizer=kernel_quantizer or WeightBaseSign(),
            kernel_initializer=kernel_initializer or RandomSign(),
            kernel_constraint=kernel_constraint,
            **kwargs,
        )
        if self.groups != 1:
            raise ValueError(f"{self.name}: groups must be 1 for MultiBaseConv2D, got {self.groups}")
        if self.data_format != "channels_last":
            raise ValueError(f"{self.name}: data_format must be 'channels_last', got {self.data_format!r}")

    @property
    def has_base_scaling(self):
        return self.scaling in ("base", "both")

    @property
    def has_operation_scaling(self):
        return self.scaling in ("operation", "both")

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        in_channels = int(input_shape[-1])
        m, n = self.weight_bases, self.activation_bases
        self.kernel = self.add_weight(
            "kernel",
            shape=(*self.kernel_size, in_channels, m * self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            trainable=True,
        )
        self.bias = (
            self.add_weight(
                "bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )
        spread = self.threshold_spread * np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
        self.thresholds = self.add_weight(
            "thresholds", shape=(n,), initializer=tf.keras.initializers.Constant(spread)
        )
        if self.has_base_scaling:
            self.alpha = self.add_weight(
                "alpha", shape=(m, self.filters if self.alpha_per_channel else 1), initializer="ones"
            )
            self.beta = self.add_weight("beta", shape=(n,), initializer="ones")
        if self.has_operation_scaling:
            self.gamma = self.add_weight("gamma", shape=(m, n), initializer="ones")
        # Which of the M x N binary convolutions are live, and their accumulated
        # Taylor importance |c * dL/dc|; both are weights so checkpoints keep them.
        self.mask = self.add_weight("mask", shape=(m, n), initializer="ones", trainable=False)
        self.importance = self.add_weight(
            "importance", shape=(m, n), initializer="zeros", trainable=False
        )
        self.input_spec = tf.keras.layers.InputSpec(min_ndim=4, axes={-1: in_channels})
        self.built = True

    def coefficients(self):
        """The scale of every binary convolution, shape (N, M, filters); 0 where pruned."""
        coef = self._coefficients(self._operation_scales()) * tf.ones((1, 1, self.filters))
        return tf.transpose(coef, (1, 0, 2))

    def _operation_scales(self):
        # The factor of each (m, n) convolution that no other convolution
        # shares: mask, times gamma with operation scaling. Shape (M, N).
        if self.has_operation_scaling:
            return self.mask * self.gamma
        return tf.convert_to_tensor(self.mask)

    def _coefficients(self, operation_scales):
        # (M, N, 1), or (M, N, filters) with alpha per output channel.
        coef = operation_scales[:, :, None]
        if self.has_base_scaling:
            coef = coef * self.alpha[:, None, :] * self.beta[None, :, None]
        return coef

    def call(self, inputs):
        bases = self.input_quantizer(_shift(inputs, tf.convert_to_tensor(self.thresholds)))
        return _convolve(self, bases, self._combined_kernel())

    def _combined_kernel(self):
        """The real kernel that computes all M x N binary convolutions in one conv call.

        A convolution is linear in its kernel, so sum_m c_mn conv(A_n, B_m) =
        conv(A_n, sum_m c_mn B_m), and with the N activation bases stacked on
        the channel axis, sum_n conv(A_n, K_n) is one convolution with the K_n
        stacked on the kernel's input axis: N x the cost of one binary
        convolution instead of M x N, and no M x N-sized activations.
        """
        m, n, filters = self.weight_bases, self.activation_bases, self.filters
        kh, kw, in_channels = self.kernel.shape[:3]
        with context.quantized_scope(True):
            weight_bases = tf.reshape(self.kernel, (kh, kw, in_channels, m, 1, filters))
        scales, weight_bases = self._track_importance(self._operation_scales(), weight_bases)
        combined = tf.reduce_sum(weight_bases * self._coefficients(scales), axis=3)
        return tf.reshape(combined, (kh, kw, in_channels * n, filters))

    def _track_importance(self, operation_scales, weight_bases):
        # Identity forward; on the backward pass it adds the first-order Taylor
        # estimate of each binary convolution's effect on the loss,
        # |s_mn * dL/ds_mn| for its own scale s_mn, to `importance`. Every
        # output z_mn of the convolution is proportional to s_mn, so this is
        # |sum dL/dz_mn * z_mn|; pruned convolutions have s = 0 and score 0.
        # The weight bases pass through so the tap is on the gradient path
        # even when no scale is trainable.
        importance = self.importance

        @tf.custom_gradient
        def tap(scales, bases):
            def grad(d_scales, d_bases):
                update = importance.assign_add(tf.abs(scales * d_scales))
                with tf.control_dependencies([update]):
                    return tf.identity(d_scales), tf.identity(d_bases)

            return (tf.identity(scales), tf.identity(bases)), grad

        return tap(operation_scales, weight_bases)

    # -- views used by pruning, the cost model and export -------------------

    def live_pairs(self):
        """The live (m, n) binary convolutions (mask above 0, fading ones included), as index pairs."""
        mask = tf.keras.backend.get_value(self.mask)
        return [(int(m), int(n)) for m, n in zip(*np.nonzero(live_mask(mask)))]

    def weight_base(self, m):
        """Weight base m as a +-1 numpy array of shape (kh, kw, cin, filters)."""
        kernel = tf.keras.backend.get_value(self.kernel.latent_variable)
        base = kernel[..., m * self.filters : (m + 1) * self.filters]
        return np.where(base >= 0, 1.0, -1.0).astype(np.float32)

    def set_from_real_kernel(self, kernel):
        """ABC-Net initialisation from a real kernel of shape (kh, kw, cin, filters).

        B_m = sign(W - mean(W) + u_m std(W)) per output channel with u_m spread
        evenly over [-1, 1], then alpha by least squares (when the layer has base
        scaling; otherwise the bases are set alone).
        """
        kernel = np.asarray(kernel, np.float64)
        expected = tuple(self.kernel.shape[:-1]) + (self.filters,)
        if kernel.shape != expected:
            raise ValueError(f"{self.name}: kernel must have shape {expected}, got {kernel.shape}")
        m = self.weight_bases
        flat = kernel.reshape(-1, self.filters)
        mean, std = flat.mean(axis=0), flat.std(axis=0) + 1e-12
        shifts = np.linspace(-1.0, 1.0, m) if m > 1 else np.zeros(1)
        bases = np.stack([np.where(flat - mean + u * std >= 0, 1.0, -1.0) for u in shifts])
        self.kernel.latent_variable.assign(
            np.concatenate([b.reshape(kernel.shape) for b in bases], axis=-1).astype(np.float32)
        )
        if self.has_base_scaling:
            self.alpha.assign(self._least_squares_alpha(flat, bases).astype(np.float32))

    def _least_squares_alpha(self, flat, bases):
        if self.alpha_per_channel:
            alphas = [
                np.linalg.lstsq(bases[:, :, f].T, flat[:, f], rcond=None)[0]
                for f in range(self.filters)
            ]
            return np.stack(alphas, axis=1)
        design = bases.reshape(self.weight_bases, -1).T
        return np.linalg.lstsq(design, flat.reshape(-1), rcond=None)[0][:, None]

    def get_config(self):
        return {
            **super().get_config(),
            "weight_bases": self.weight_bases,
            "activation_bases": self.activation_bases,
            "scaling": self.scaling,
            "alpha_per_channel": self.alpha_per_channel,
            "threshold_spread": self.threshold_spread,
        }


# -- sub-bit convolutions (SNN) ---------------------------------------------------


@tf.custom_gradient
def _nearest_members(units, members, t):
    """The chosen codebook members forward; IR-Net's error decay estimator of sign backward."""

    def grad(dy):
        return dy * error_decay_gradient(units, t), tf.zeros_like(members), tf.zeros_like(t)

    return tf.identity(members), grad


@register
class SubBitConv2D(lq.layers.QuantConv2D):
    """Sub-bit binary convolution (SNN): every binary kernel is one of 2^tau codebook members.

    As in "Sub-bit Neural Networks" (Wang et al., ICCV 2021), trained the IR-Net
    way: the real latent kernel is balanced and standardised per output
    channel (Libra-PB, `tfbin.quantizers.libra_standardize`), every 3x3 kernel
    (or 8 input channels of a 1x1 kernel) is mapped to the codebook member with
    the largest inner product, and the binary kernel gets a power-of-two scale
    per output channel. The gradient reaches the latent kernel through IR-Net's
    error decay estimator (t advanced by `tfbin.callbacks.ErrorDecay`) and
    reaches a real-valued copy of the codebook, from which
    `tfbin.callbacks.RefineCodebooks` refines the codebook during training.

    Arguments:
        filters: as for `lq.layers.QuantConv2D`.
        kernel_size: 3 (3x3) or 1 (1x1).
        tau: bits per kernel: the codebook has 2^tau members; 1..9 for 3x3
            kernels (9: all 512 kernels, an IR-Net BNN), 1..8 for 1x1 kernels
            (8-channel units; input channels must be a multiple of 8).
        t: the error decay estimator's t before `ErrorDecay` sets it.
        codebook_init: the magnitude of the codebook's real copy, which the
            SNN paper's refinement (`RefineCodebooks(rule="gradient")`) trains:
            at the start and for refilled members (it is clipped to 3x that).
            The SNN code uses 1 with hundreds of thousands of training steps;
            a member flips only after its copy has moved that far.
        seed: seed of the initial codebook (distinct members drawn uniformly);
            None draws from TensorFlow's global random state.
        input_quantizer: default `ErrorDecaySign()`.

    Weights: `kernel` (real latent weights, trained by Adam), `codebook`
    (+-1 members, shape (2^tau, 9 or 8), what the layer computes with),
    `codebook_latent` (its trained real copy) and `error_decay_t`: all saved
    with the model, so `ModelCheckpoint` and `BackupAndRestore` keep them.
    `tfbin.cost` counts tau bits per unit; `tfbin.pruning.strip_pruning` makes
    a plain larq `QuantConv2D` of it for Larq Compute Engine (which stores 1 bit
    per weight); `tfbin.subbit` stores it in tau bits per unit.
    `lq.models.summary` sees its latent kernel and codebooks as 32-bit weights.

    ```python
    import tfbin
    import tensorflow as tf

    layer = tfbin.layers.SubBitConv2D(32, 3, tau=5, padding="same", pad_values=1.0, use_bias=False)
    y = layer(tf.random.normal((2, 8, 8, 16)))
    layer.codebook.shape           # (32, 9): 2^5 members of the 512 binary 3x3 kernels
    layer.unit_indices().shape     # (512,): one 5-bit index per (input, output) channel pair
    ```
    """

    def __init__(
        self,
        filters,
        kernel_size,
        tau=5,
        t=0.1,
        codebook_init=1.0,
        seed=None,
        input_quantizer=None,
        kernel_quantizer=None,
        **kwargs,
    ):
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if size not in codebooks.UNIT_SIZES:
            raise ValueError(
                f"kernel_size must be 3 (3x3) or 1 (1x1) for SubBitConv2D, got {kernel_size!r}"
            )
        self.unit = codebooks.UNIT_SIZES[size]
        self.tau = check_int("tau" if self.unit == 9 else "tau (1x1 kernels)", tau, 1, self.unit)
        self.initial_t = check_number("t", t, positive=True)
        self.codebook_init = check_number("codebook_init", codebook_init, positive=True)
        if seed is not None:
            check_int("seed", seed, minimum=0)
        self.seed = seed
        if kernel_quantizer is not None:
            raise ValueError(
                "kernel_quantizer must be None for SubBitConv2D: it maps kernels to its codebook itself"
            )
        super().__init__(
            filters, size, input_quantizer=input_quantizer or ErrorDecaySign(t), kernel_quantizer=None,
            **kwargs,
        )
        if self.groups != 1:
            raise ValueError(f"{self.name}: groups must be 1 for SubBitConv2D, got {self.groups}")
        if self.data_format != "channels_last":
            raise ValueError(f"{self.name}: data_format must be 'channels_last', got {self.data_format!r}")

    def build(self, input_shape):
        in_channels = int(tf.TensorShape(input_shape)[-1])
        if self.unit == 8 and in_channels % 8:
            raise ValueError(
                f"{self.name}: a 1x1 SubBitConv2D groups input channels by 8, so it needs a multiple "
                f"of 8 input channels, got {in_channels}"
            )
        super().build(input_shape)
        members = codebooks.patterns_to_units(self._initial_patterns(), self.unit)
        self.codebook = self.add_weight(
            "codebook", shape=members.shape, initializer=tf.keras.initializers.Constant(members),
            trainable=False,
        )
        self.codebook_latent = self.add_weight(
            "codebook_latent", shape=members.shape,
            initializer=tf.keras.initializers.Constant(members * self.codebook_init),
        )
        self.error_decay_t = self.add_weight(
            "error_decay_t", shape=(), initializer=tf.keras.initializers.Constant(self.initial_t),
            trainable=False,
        )

    def _initial_patterns(self):
        if self.seed is not None:
            return codebooks.random_codebook(self.tau, self.unit, np.random.default_rng(self.seed))
        with tf.init_scope():
            return tf.random.shuffle(tf.range(2**self.unit, dtype=tf.int64))[: 2**self.tau].numpy()

    @property
    def units_shape(self):
        """(units, unit size) of the kernel: cin * cout 3x3 kernels or cin / 8 * cout 8-vectors."""
        kh, kw, cin, cout = self.kernel.shape
        return (cin * cout if self.unit == 9 else cin // 8 * cout), self.unit

    def _to_units(self, kernel):
        # The layout of tfbin.codebooks.kernel_to_units, in TensorFlow.
        kh, kw, cin, cout = kernel.shape
        if self.unit == 9:
            return tf.reshape(tf.transpose(kernel, (2, 3, 0, 1)), (cin * cout, 9))
        return tf.reshape(tf.transpose(tf.reshape(kernel, (cin // 8, 8, cout)), (0, 2, 1)), (-1, 8))

    def _from_units(self, units):
        kh, kw, cin, cout = self.kernel.shape
        if self.unit == 9:
            return tf.transpose(tf.reshape(units, (cin, cout, 3, 3)), (2, 3, 0, 1))
        return tf.reshape(tf.transpose(tf.reshape(units, (cin // 8, cout, 8)), (0, 2, 1)), (1, 1, cin, cout))

    def _mapping(self):
        """(index of each unit's codebook member, per-channel scale, standardised units)."""
        standardized, scale = libra_standardize(self.kernel)
        units = self._to_units(standardized)
        scores = tf.matmul(tf.stop_gradient(units), self.codebook, transpose_b=True)
        return tf.argmax(scores, axis=1, output_type=tf.int32), scale, units

    def sub_bit_kernel(self):
        """The kernel the layer computes with: codebook members times the per-channel scale."""
        indices, scale, units = self._mapping()
        members = _nearest_members(
            units, tf.gather(self.codebook, indices), tf.convert_to_tensor(self.error_decay_t)
        )
        # Zero forward (exactly: the members stay +-1); on the backward pass
        # every member's real copy receives the gradient of the kernels mapped to it.
        latent = tf.gather(self.codebook_latent, indices)
        members = members + (latent - tf.stop_gradient(latent))
        return self._from_units(members) * scale

    def call(self, inputs):
        if self.input_quantizer is not None:
            inputs = self.input_quantizer(inputs)
        return _convolve(self, inputs, self.sub_bit_kernel())

    # -- views used by the cost model and export ------------------------------

    def unit_indices(self):
        """Index into the codebook of every unit, int array (units,) (layout: `tfbin.codebooks`)."""
        return self._mapping()[0].numpy()

    def standardized_units(self):
        """The units the codebook is matched against, float32 (units, unit size): the Libra-PB kernel."""
        return self._mapping()[2].numpy().astype(np.float32)

    def bits_off_codebook(self):
        """The share of kernel bits whose codebook member differs from the sign of their unit, float.

        0 when every unit's signs are a codebook member: how well the codebook fits the kernels.
        """
        signs = np.where(self.standardized_units() >= 0, 1.0, -1.0)
        members = tf.keras.backend.get_value(self.codebook)[self.unit_indices()]
        return float(np.mean(signs != members))

    def codebook_patterns(self):
        """The codebook as pattern numbers (2^tau,), in index order."""
        return codebooks.units_to_patterns(tf.keras.backend.get_value(self.codebook))

    def channel_scale(self):
        """The power-of-two scale of each output channel, float32 (filters,)."""
        return self._mapping()[1].numpy().astype(np.float32)

    def binary_kernel(self):
        """The kernel the layer computes with, as numpy: +-scale per output channel."""
        return tf.keras.backend.get_value(self.sub_bit_kernel()).astype(np.float32)

    def get_config(self):
        config = super().get_config()
        config.pop("kernel_quantizer", None)
        return {**config, "tau": self.tau, "t": self.initial_t, "codebook_init": self.codebook_init,
                "seed": self.seed}
