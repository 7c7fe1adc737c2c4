"""`method="pabt"`: Bop for the binary weights, Adam or AMSGrad for the rest, and PaBT's pruning to 1/1.

The recipe's `optimizer` holds `tfbin.optimizers.bop_optimizer`'s arguments,
with the "step" schedule's period as `decay_fraction` of the run; its
`pruning` is PaBT's phase as fractions of the run (None: no pruning).
"""
from tfbin import optimizers
from tfbin.methods import Method
from tfbin.pabt import PruneToBinary


def _optimizer(recipe, epochs, steps_per_epoch, learning_rate):
    kwargs = dict(recipe.optimizer, learning_rate=learning_rate)
    schedule = kwargs.get("schedule_kind", "constant")
    if schedule != "constant":
        kwargs.update(steps_per_epoch=steps_per_epoch, epochs=epochs)
    if schedule == "step":
        # The source's decay period, as the same fraction of a run of any length.
        kwargs["decay_every"] = max(1, round(kwargs.pop("decay_fraction") * epochs))
    if schedule == "linear":
        # The final values are the source's, scaled like the initial ones.
        kwargs["final_learning_rate"] *= learning_rate / recipe.optimizer["learning_rate"]
    return optimizers.bop_optimizer(**kwargs)


def _callbacks(recipe, epochs, train_data, single_replica):
    if recipe.pruning is None:
        return []
    pruning = dict(smoothness_metric="val_mean_iou" if recipe.task == "segmentation" else "val_accuracy")
    if single_replica:
        # BatchNorm statistics are re-estimated after pruning on one replica;
        # under a distribution strategy Keras keeps its moving averages.
        pruning["statistics_data"] = train_data
    if epochs == 1:  # a one-epoch check prunes during its only epoch
        return [PruneToBinary(0, 1, **pruning)]
    return [PruneToBinary.for_epochs(epochs, *recipe.pruning, **pruning)]


METHOD = Method("pabt", _optimizer, callbacks=_callbacks)
