"""`conv="irnet"`: a larq `QuantConv2D` with IR-Net's `LibraSign` kernel and `ErrorDecaySign` input.

Its export (a plain `QuantConv2D` with the kernel it computes with) is the
rule of larq's `QuantConv2D` in `tfbin.export`, which also covers these
quantizers on layers built outside the zoo.
"""
import logging

import larq as lq

from tfbin.kinds import ConvKind
from tfbin.quantizers import ErrorDecaySign, LibraSign


def _build(**kwargs):
    # larq warns that a binary kernel quantizer without a kernel constraint
    # may starve weights (ste_sign's gradient is zero beyond |w| > 1);
    # LibraSign standardises its latent weights first, so it does not apply.
    larq_log = logging.getLogger("larq.layers_base")
    level = larq_log.level
    larq_log.setLevel(logging.ERROR)
    try:
        return lq.layers.QuantConv2D(input_quantizer=ErrorDecaySign(), kernel_quantizer=LibraSign(), pad_values=1.0,
                                     **kwargs)
    finally:
        larq_log.setLevel(level)


KIND = ConvKind("irnet", _build)
