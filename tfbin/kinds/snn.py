"""`conv="snn"`: `tfbin.layers.SubBitConv2D`, every binary kernel one of 2^tau codebook members."""
from tfbin import cost, export
from tfbin.kinds import ConvKind
from tfbin.layers import SubBitConv2D


def _build(**kwargs):
    return SubBitConv2D(pad_values=1.0, **kwargs)


KIND = ConvKind(
    "snn", _build, options=("tau",), layer_class=SubBitConv2D, cost=cost.sub_bit_cost, export=export.export_sub_bit,
)
