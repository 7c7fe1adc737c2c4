"""`conv="relaxed"`: a larq `QuantConv2D` computing with real weights that BNEW or BMD drive to +-1.

Its kernel quantizer is larq's `NoOp(precision=1)`: the weights count as
1-bit, and `tfbin.optimizers.BNEW` or `BMD` make them so by the end of training.
"""
import larq as lq

from tfbin.kinds import ConvKind


def _build(input_quantizer, **kwargs):
    return lq.layers.QuantConv2D(input_quantizer=input_quantizer, kernel_quantizer=lq.quantizers.NoOp(precision=1),
                                 pad_values=1.0, **kwargs)


KIND = ConvKind("relaxed", _build, takes_input_quantizer=True)
