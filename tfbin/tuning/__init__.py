"""Search Bop's hyperparameters with Keras Tuner.

PaBT (supplementary S1 and Table 1) picks Adam's or AMSGrad's learning rate eta,
Bop's adaptivity rate phi (larq's `gamma`) and threshold tau, and the optimizer
of the BatchNorm and scaling parameters, by search.

- `space`: a `SearchSpace` says which values to try and how eta and phi
  decay over the run; `PRESETS` holds the grids of the paper and a small one
  for digits.
- `hypermodel`: `BopHyperModel` adds a space to a model-building function and
  compiles each trial with `tfbin.optimizers.bop_optimizer`.
- `tuners`: `make_tuner` gives Keras Tuner's grid (resumable), random,
  Bayesian or Hyperband tuner.
- `results`, `search`: `tune` runs a search (or resumes one) and writes its
  results table, plot and the best optimizer as code.

Import tfbin.tuning before `keras_tuner`: it makes Keras Tuner work on the
tf.keras (tf_keras) models that Larq needs (`tfbin.tuning._keras_tuner` says how).

```python
import tempfile
import tfbin
from tfbin import data, tuning, zoo

digits = data.load_dataset("digits", batch_size=64)
search = tuning.tune(
    lambda hp: zoo.digits_resnet(width=8),
    digits.train, digits.test, out=tempfile.mkdtemp(), space="quick", max_trials=2, epochs=1, verbose=0,
)
print(search.best["best_val_accuracy"])
print(search.code)  # the best optimizer, as code to paste
```
"""
import importlib

import tfbin
from tfbin._lazy import lazy_exports

# Public name -> the module of tfbin.tuning that defines it.
_EXPORTS = {
    "DIMENSIONS": "space",
    "PRESETS": "space",
    "SearchSpace": "space",
    "get_space": "space",
    "BopHyperModel": "hypermodel",
    "TUNERS": "tuners",
    "make_tuner": "tuners",
    "optimizer_code": "results",
    "trial_rows": "results",
    "write_results": "results",
    "Search": "search",
    "tune": "search",
    "keras_tuner": "_keras_tuner",
}

__all__ = sorted(_EXPORTS)

if not tfbin.COMMAND:
    # keras_tuner chooses its Keras once, when it is first imported: make that
    # import happen here, the tf.keras way, before the user's own.
    importlib.import_module("tfbin.tuning._keras_tuner")
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
