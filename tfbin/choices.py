"""The names users choose among, and defaults that TensorFlow-free code shares, without TensorFlow.

The library checks its arguments against these tuples and the `tfbin`
command offers them as choices, so `tfbin --help` and argument errors answer
without waiting for TensorFlow to load. Each tuple belongs to the module
named in its comment, which re-exports it.

```python
from tfbin import choices
"digits" in choices.DATASETS          # True
choices.OPTIMIZERS                    # ('adam', 'amsgrad')
```
"""
__all__ = [
    "BASELINES",
    "BOP_DEFAULTS",
    "DATASETS",
    "ENGINES",
    "FLOAT_LAYERS",
    "METHODS",
    "OPTIMIZERS",
    "PRECISIONS",
    "PRUNING_PHASE",
    "SCHEDULES",
    "SEGMENTATION_DATASETS",
    "STRATEGIES",
    "TARGETS",
    "TUNERS",
]

# tfbin.data.load_dataset: image classification
DATASETS = ("digits", "cifar10", "cifar100", "imagenet2012")
# tfbin.data.load_segmentation_dataset: per-pixel labels
SEGMENTATION_DATASETS = ("digit_scenes", "cityscapes")
# tfbin.optimizers.bop_optimizer: the optimizer of everything that is not binary, and its schedules
OPTIMIZERS = ("adam", "amsgrad")
SCHEDULES = ("constant", "step", "linear")
# tfbin.optimizers: Bop + Adam settings that hold on digits at 8x8 and 16x16, widths 8 to 32, runs
# of 6 to 24 epochs (benchmarks/train_defaults.py, chosen on validation splits): a constant eta and
# gamma keep Bop flipping weights up to the last step, so a run ends wherever its last few steps
# left it; decaying both settles the binary weights before the end. `bop_optimizer`,
# `tfbin.training.train`, the demos and `tfbin.tuning`'s search spaces read these; the recipes
# keep their sources' settings. Here, so that TensorFlow-free code reads them too.
BOP_DEFAULTS = dict(learning_rate=1e-2, gamma=1e-3, threshold=1e-7, final_fraction=0.01)
# tfbin.tuning.make_tuner
TUNERS = ("grid", "random", "bayesian", "hyperband")
# tfbin.convert.baselines and tfbin.convert.openvino_baselines: reference models of the same architecture
BASELINES = ("float", "int8")
# tfbin.convert.convert and convert_openvino: the precision of the float layers of a binary model
FLOAT_LAYERS = ("float", "int8")
# `tfbin convert --target`: Larq Compute Engine TFLite (ARM devices) or OpenVINO (x86 CPUs); the first is the default
TARGETS = ("lce", "openvino")
# `tfbin bench --engine` and tfbin.convert.runner: what runs the files; the first is the default
ENGINES = ("lce", "openvino")
# What trains a network: PaBT (Bop, pruning to 1/1), STQ-A (Adam, L1 on the BatchNorm scales,
# filter pruning), SNN (SGD, IR-Net estimator, codebook refinement) or BNEW (its proximal
# optimizer). tfbin.methods: the built-in methods a recipe names, one module each; tfbin.demo.run_demo:
# one end-to-end demo per method, the first the default.
METHODS = ("pabt", "stq", "snn", "bnew")
# tfbin.pabt.PruneToBinary.for_epochs: PaBT's pruning phase as fractions of the run, measured best
# on digits (benchmarks/pabt_digits.py); the recipes' too
PRUNING_PHASE = (0.1, 0.4)
# tfbin.distribute.get_strategy: where training runs
STRATEGIES = ("default", "mirrored", "multiworker")
# tfbin.convert.openvino_runtime: the inference precision of an OpenVINO model's float layers
PRECISIONS = ("f32", "bf16")
