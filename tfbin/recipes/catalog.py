"""The papers' training setups as data: one `Recipe` per reproducible experiment.

Free of TensorFlow, so that `tfbin train --list` and argument errors answer at
once. What a recipe does when run is in `tfbin.recipes.runner`.

```python
from tfbin.recipes.catalog import RECIPES

recipe = RECIPES["pabt-resnet20-cifar10"]
recipe.dataset, recipe.epochs, recipe.optimizer["threshold"]
```
"""
import dataclasses

from tfbin import methods
from tfbin.choices import DATASETS, PRUNING_PHASE, SEGMENTATION_DATASETS
from tfbin.validation import check_fraction, check_int, check_one_of

__all__ = ["QUICK_DATASETS", "RECIPES", "TASKS", "Recipe", "get_recipe"]

TASKS = ("classification", "segmentation")
# The bundled data a quick run of a recipe may train on instead of its own, per task.
QUICK_DATASETS = {"classification": "digits", "segmentation": "digit_scenes"}
PABT = "Pruning as a Binarization Technique (PaBT), CVPRW 2024"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One training setup of a paper.

    Arguments:
        name: what `tfbin train --recipe` takes.
        title: one line for listings.
        source: where the setup comes from (the paper by name and venue, its sections and tables).
        reported: the result the source reports for it, as text.
        task: "classification" or "segmentation".
        dataset: the TFDS dataset the source trains on.
        model: a builder of `tfbin.zoo`, called as `builder(input_shape, num_classes, **model_kwargs)`.
        model_kwargs: the binarization scheme and shape (conv, weight_bases, ...).
        image_size: images are resized to this (None: the dataset's own size).
        batch_size: per replica; the global batch is this times the replicas.
        epochs: the source's length of training.
        optimizer: for "pabt", `tfbin.optimizers.bop_optimizer` arguments (for the "step"
            schedule `decay_every` is given as `decay_fraction`, a fraction of the run); for
            "stq" and "snn", the learning rate (and SGD's momentum) of a cosine schedule; for
            "bnew", the learning rate, its linear decay to `final_fraction`, the phase split
            (`binarize_fraction`, `freeze_fraction`) and the pull toward +-1 (`push`:
            lambda0 x steps of the binarize phase). A quick run on bundled data keeps
            these source settings on purpose, since it checks the recipe; `tfbin.training.train`
            and the demos use `tfbin.optimizers.BOP_DEFAULTS` instead.
        pruning: (start, end) of PaBT's pruning phase as fractions of the run, or None.
        method: the `tfbin.methods.Method` that trains it, by name: a built-in
            one (`tfbin.choices.METHODS`) or one registered since.
        method_options: "stq": `l1`, `target_pfr`, `prune_fraction` (when in the run to
            prune); "snn": `refine_every` (steps between codebook refinements).
        notes: what the source leaves open and what the recipe chose for it.
        quick_model_kwargs: what a quick run on bundled data changes in `model_kwargs`
            (a narrower network for images a fraction of the source's size).
        quick_image_size: the bundled data's image size in a quick run (None: its own);
            ImageNet networks need 32x32 digits to keep a pixel after five halvings.
    """

    name: str
    title: str
    source: str
    reported: str
    task: str
    dataset: str
    model: str
    model_kwargs: dict
    image_size: int | tuple | None
    batch_size: int
    epochs: int
    optimizer: dict
    pruning: tuple | None = None
    notes: str = ""
    quick_model_kwargs: dict = dataclasses.field(default_factory=dict)
    quick_image_size: int | None = None
    method: str = "pabt"
    method_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        check_one_of("task", self.task, TASKS)
        check_one_of("method", self.method, methods.names())
        check_one_of("dataset", self.dataset, DATASETS if self.task == "classification" else SEGMENTATION_DATASETS)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("epochs", self.epochs, minimum=1)
        if self.pruning is not None:
            start, end = (check_fraction("pruning", value, include_one=True) for value in self.pruning)
            if not start < end:
                raise ValueError(f"{self.name}: pruning must start before it ends, got {self.pruning}")


# PaBT's pruning phase is tfbin.choices.PRUNING_PHASE, measured best on digits
# (benchmarks/pabt_digits.py); the paper chose its own "empirically".
# Table 1's ImageNet setting: AMSGrad eta 2.5e-3 -> 5e-8 and Bop phi 1e-4 -> 1e-8, both
# linear; tau 1e-8.
_PABT_IMAGENET_OPTIMIZER = {"learning_rate": 2.5e-3, "gamma": 1e-4, "threshold": 1e-8, "optimizer": "amsgrad",
                            "schedule_kind": "linear", "final_learning_rate": 5e-8, "final_gamma": 1e-8}


def _pabt_cifar10(depth, reported):
    return Recipe(
        name=f"pabt-resnet{depth}-cifar10",
        title=f"PaBT: ResNet-{depth} MBN 3/3 pruned to 1/1 on CIFAR-10",
        source=f"{PABT}: supplementary S1-S2 and Table 1",
        reported=reported,
        task="classification",
        dataset="cifar10",
        model=f"resnet{depth}",
        model_kwargs={"conv": "mbn", "weight_bases": 3, "activation_bases": 3},
        image_size=None,
        batch_size=128,
        epochs=500,
        # Table 1's best CIFAR-10 setting: Adam eta 1e-3, Bop phi 1e-3 and tau 1e-7,
        # eta and phi x0.1 every 100 of 500 epochs.
        optimizer={"learning_rate": 1e-3, "gamma": 1e-3, "threshold": 1e-7, "optimizer": "adam",
                   "schedule_kind": "step", "decay_fraction": 0.2, "decay_rate": 0.1},
        pruning=PRUNING_PHASE,
        notes="The paper gives no batch size nor pruning epochs (chosen 'empirically'): 128, and pruning "
              "from 10% to 40% of the run (the phase measured best on digits), are this recipe's choices.",
    )


RECIPES = {
    recipe.name: recipe
    for recipe in (
        _pabt_cifar10(20, "MBN 3/3 before pruning: 90.00% top-1 (Table 1, eta 1e-3, phi 1e-3, tau 1e-7)"),
        _pabt_cifar10(56, "MBN 3/3 before pruning: up to 91.74% top-1 (Table 1)"),
        Recipe(
            name="pabt-resnet18-imagenet",
            title="PaBT: ResNet-18 MBN 3/3 pruned to 1/1 on ImageNet",
            source=f"{PABT}: supplementary S1 and Table 1",
            reported="MBN 3/3 before pruning: 62.60% top-1 with AMSGrad (Table 1)",
            task="classification",
            dataset="imagenet2012",
            model="resnet18",
            model_kwargs={"conv": "mbn", "weight_bases": 3, "activation_bases": 3},
            image_size=224,
            batch_size=256,
            epochs=100,
            optimizer=_PABT_IMAGENET_OPTIMIZER,
            pruning=PRUNING_PHASE,
            notes="The paper gives no batch size nor pruning epochs: 256, and pruning from 10% to 40% of "
                  "the run (the phase measured best on digits), are this recipe's choices.",
            quick_model_kwargs={"width": 16},
            quick_image_size=32,
        ),
        Recipe(
            name="pabt-deeplab-cityscapes",
            title="PaBT: DeepLab (ResNet-18, dilated last stage, ASPP 1/8/12/18) MBN 3/3 pruned to 1/1 on Cityscapes",
            source=f"{PABT}: supplementary S3 and Table 2",
            reported="PaBT 3/3 -> 1/1: 54.67% mIoU, 3.57 pp over a 1/1 DeepLab trained directly with Bop and "
                     "AMSGrad (51.10%); MBN 3/3 60.61% (Table 2)",
            task="segmentation",
            dataset="cityscapes",
            model="deeplab",
            model_kwargs={"conv": "mbn", "weight_bases": 3, "activation_bases": 3},
            image_size=(512, 1024),
            batch_size=8,
            epochs=200,
            # Table 2's PaBT row: AMSGrad for BatchNorm and scaling factors, Bop for the weights;
            # the values are the ImageNet ones of Table 1.
            optimizer=_PABT_IMAGENET_OPTIMIZER,
            pruning=PRUNING_PHASE,
            notes="The paper gives the architecture and the 512x1024 input but no optimizer values, batch "
                  "size, epochs nor pruning epochs: Table 1's ImageNet optimizer, batch 8, 200 epochs and "
                  "pruning from 10% to 40% of the run are this recipe's choices.",
            quick_model_kwargs={"width": 8, "aspp_filters": 32, "low_level_filters": 16, "decoder_filters": 32},
        ),
        Recipe(
            name="stq-a-resnet18-imagenet",
            title="STQ-A: ResNet-18 BNN, L1 on BatchNorm scales, 19% of its 2D filters pruned, on ImageNet",
            source="STQ-Nets, BMVC 2020: Section 4 and Table 5",
            reported="STQ-A ResNet-18 at PFR 19%: 51.15% top-1 (Table 5)",
            task="classification",
            dataset="imagenet2012",
            model="resnet18",
            model_kwargs={"conv": "bnn", "block": "basic"},
            image_size=224,
            batch_size=128,
            epochs=100,
            optimizer={"learning_rate": 1e-3},
            method="stq",
            method_options={"l1": 1e-4, "target_pfr": 0.19, "prune_fraction": 0.5},
            notes="Adam without weight decay, batch 128 and the L1 strength 1e-4 are the paper's; it gives no "
                  "ImageNet schedule nor when to prune: 100 epochs of cosine annealing and pruning at half the "
                  "run are this recipe's choices. Basic blocks, so pruned channels leave both convolutions.",
            quick_model_kwargs={"width": 16},
            quick_image_size=32,
        ),
        Recipe(
            name="snn-resnet18-imagenet",
            title="SNN: ResNet-18 with 5-bit kernel subsets (0.56 bits per weight), IR-Net training, on ImageNet",
            source="Sub-bit Neural Networks (SNN), ICCV 2021: Section A",
            reported="tau 5: 6.103 Mbit and 0.501 G bit-OPs (the SNN code's published ResNet-18 figures; the "
                     "supplement gives no ImageNet accuracy)",
            task="classification",
            dataset="imagenet2012",
            model="resnet18",
            model_kwargs={"conv": "snn", "tau": 5},
            image_size=224,
            batch_size=256,
            epochs=120,
            optimizer={"learning_rate": 0.1, "momentum": 0.9},
            method="snn",
            method_options={"refine_every": 25},
            notes="SGD with momentum 0.9, learning rate 0.1 with cosine annealing, batch 256, 120 epochs and "
                  "refinement every 25 steps are the paper's; its weight decay (1e-4) and Hardtanh activations "
                  "are left out.",
            quick_model_kwargs={"width": 16},
            quick_image_size=32,
        ),
        Recipe(
            name="bnew-resnet20-cifar100",
            title="BNEW: ReActNet-style ResNet-20 on CIFAR-100, no distillation",
            source="Training Fully Binary Neural Networks the Easy Way (BNEW), BMVC 2022: Table 1 and Section 2",
            reported="BNEW without distillation: 55.0% +- 0.5 top-1 in 1000 epochs, 52.7% in 200 (Table 1)",
            task="classification",
            dataset="cifar100",
            model="resnet20",
            model_kwargs={"conv": "relaxed", "block": "reactnet"},
            image_size=None,
            batch_size=128,
            epochs=1000,
            optimizer={"learning_rate": 1e-2, "final_fraction": 0.01, "binarize_fraction": 0.25,
                       "freeze_fraction": 0.98, "push": 40.0},
            method="bnew",
            notes="Adam at 0.01 with a linear decay is the paper's; lambda0 1e-4 over ~390 steps and 1000 "
                  "epochs sets the pull (push 40). The pretraining length (a quarter of the run), the frozen "
                  "last 2% and batch 128 are this recipe's choices.",
        ),
    )
}


def get_recipe(recipe):
    """`recipe` itself if it is a `Recipe`, else the one of that name in `RECIPES`."""
    if isinstance(recipe, Recipe):
        return recipe
    check_one_of("recipe", recipe, tuple(RECIPES))
    return RECIPES[recipe]
