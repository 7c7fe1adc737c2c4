"""`conv="mbn"`: `tfbin.layers.MultiBaseConv2D`, M weight bases x N activation bases (PaBT's networks)."""
from tfbin import cost, export
from tfbin.kinds import ConvKind
from tfbin.layers import MultiBaseConv2D


def _build(**kwargs):
    return MultiBaseConv2D(pad_values=1.0, **kwargs)


KIND = ConvKind(
    "mbn", _build, options=("weight_bases", "activation_bases", "scaling"), layer_class=MultiBaseConv2D,
    cost=cost.multi_base_cost, export=export.export_multi_base,
)
