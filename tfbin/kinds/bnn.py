"""`conv="bnn"`: larq's `QuantConv2D` with 1-bit weights and activations."""
import larq as lq

from tfbin.kinds import ConvKind


def _build(input_quantizer, **kwargs):
    return lq.layers.QuantConv2D(input_quantizer=input_quantizer, kernel_quantizer="ste_sign",
                                 kernel_constraint="weight_clip", pad_values=1.0, **kwargs)


KIND = ConvKind("bnn", _build, takes_input_quantizer=True)
