"""The papers' training setups, one call (or one `tfbin train --recipe NAME`) each.

A `Recipe` (`tfbin.recipes.catalog`) holds a paper's setup: dataset,
model and binarization scheme, optimizer and schedules, pruning phase, and
the result the paper reports. `train` runs it under any `tf.distribute`
strategy, checkpointing every epoch and resuming after a crash; `tfbin train`
also converts the result with LCE (`model.tflite` next to the checkpoints).

```python
import tempfile
import tfbin
from tfbin import recipes
from tfbin.convert import convert

sorted(recipes.RECIPES)
run = recipes.train("pabt-resnet20-cifar10", out=tempfile.mkdtemp(), epochs=1, dataset="digits", verbose=0)
convert(run.model, calibration_data=run.calibration).save(f"{run.out}/model.tflite")
```
"""
from tfbin._lazy import lazy_exports

# Public name -> the module of tfbin.recipes that defines it.
_EXPORTS = {
    "RECIPES": "catalog",
    "Recipe": "catalog",
    "get_recipe": "catalog",
    "TrainingRun": "runner",
    "train": "runner",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
