"""Export as one pipeline: the ordered, named passes that `tfbin.pruning.strip_pruning` runs.

Every target first runs `COMMON_PASSES`: each layer through its export rule
(`tfbin.export`), then STQ's masked 2D filters removed (`tfbin.shrink`). Then
come the passes its target declares in `TARGET_PASSES`: Larq Compute Engine
needs dilated convolutions that read one tensor merged
(`dilated_siblings`); LCE and OpenVINO both need zero padding around a
kernel larger than its input computed from +-1 paddings (`zero_padding`);
OpenVINO needs the "same" padding of a float convolution that reads a
ZeroPadding layer made explicit, or its PadFusion drops it
(`explicit_same_padding`).

```python
import tfbin
from tfbin import passes

[p.name for p in passes.pipeline("lce")]
# ['export_rules', 'remove_masked_filters', 'merge_dilated_siblings', 'emulate_zero_padding']
[p.name for p in passes.pipeline("openvino")]
# ['export_rules', 'remove_masked_filters', 'emulate_zero_padding', 'explicit_same_padding']
```
"""
import collections

from tfbin import export, shrink
from tfbin.choices import TARGETS
from tfbin.passes import dilated_siblings, explicit_same_padding, zero_padding
from tfbin.validation import check_one_of

__all__ = ["COMMON_PASSES", "ExportPass", "TARGET_PASSES", "pipeline", "run"]

# One step of the pipeline: `run(model)` returns the rewritten model.
ExportPass = collections.namedtuple("ExportPass", ["name", "run"])

COMMON_PASSES = (
    ExportPass("export_rules", export.apply_rules),
    # Before the target's passes, which look at the shapes the removal changes.
    ExportPass("remove_masked_filters", shrink.remove_masked_filters),
)
_ZERO_PADDING = ExportPass("emulate_zero_padding", zero_padding.emulate)
TARGET_PASSES = {
    "lce": (ExportPass("merge_dilated_siblings", dilated_siblings.merge), _ZERO_PADDING),
    # Last: the padding it makes explicit must be the model's final one.
    "openvino": (_ZERO_PADDING, ExportPass("explicit_same_padding", explicit_same_padding.make_explicit)),
}


def pipeline(target="lce"):
    """The passes `strip_pruning(model, target)` runs, in order."""
    return COMMON_PASSES + TARGET_PASSES[check_one_of("target", target, TARGETS)]


def run(model, target="lce"):
    """`model` through every pass of `pipeline(target)`."""
    for export_pass in pipeline(target):
        model = export_pass.run(model)
    return model
