"""How abrupt PaBT's pruning is in the demo's configuration, per PruneToBinary setting, over seeds.

The demo (`tfbin demo`) trains `digits_resnet` width 32 for 12 epochs with a
constant learning rate and prunes 3/3 -> 1/1 from epoch 1 to 5. This script
runs that configuration on a validation split (a stratified quarter of the
digits training split, never the test split) and records for each setting the
validation curve, `pabt_max_drop` (the largest fall below the value before
pruning), `pabt_max_fall` (below the best value since) and the final accuracy.
`unpruned_1x1` and `unpruned_3x3` train without pruning and show the falls of
an unpruned curve over the same epochs: the noise floor of these figures.

Settings past PruneToBinary's own options (other Bop settings, a cap on Bop's flips per step,
smaller batches, pausing or shortening Bop's memory after removals, measured importance, a budget
over the network's total, per-layer schedules ending one after another, distillation from the
network as it was before each removal) are built here. `--threads 1` makes a run repeat exactly.

    python benchmarks/pabt_smoothness.py --variants linear polynomial --seeds 0 1 2 3 4 5
    python benchmarks/pabt_smoothness.py --variants polynomial --epochs 24
    python benchmarks/pabt_smoothness.py --threads 1 --variants polynomial polynomial+hold_flips_epoch
    python benchmarks/pabt_smoothness.py --table-from results/select/smoothness.json

`--quick` makes a training command a smoke run (see `--help`).

The table is printed and written to --out; the records go to --out with .json.
"""
import argparse
import functools
import json
import os
import shlex
import sys

import numpy as np
from sklearn.model_selection import train_test_split

import tfbin  # noqa: F401  (before TensorFlow)
from common import QUICK_DIGITS, add_quick_flag, print_and_save, prune_options, quick_digits, start_quick
import larq as lq  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfbin import callbacks, data, distillation, optimizers, pabt, pruning, training, zoo
from tfbin.files import write_json
from tfbin.layers import MultiBaseConv2D, live_mask

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
WIDTH, QUICK_WIDTH = 32, 4


def phase(epochs):
    """The pruning phase of `PruneToBinary.for_epochs(epochs)`: (start_epoch, end_epoch)."""
    prune = callbacks.PruneToBinary.for_epochs(epochs)
    return prune.start_epoch, prune.end_epoch


class GeometricSchedule(pruning.PruningSchedule):
    """Live convolutions fall by a constant factor per unit of time: total ** (1 - progress)."""

    def fraction(self, progress):
        # The pruned fraction depends on the layer's size; this is a 3/3 layer's (9 convolutions).
        return (9.0 - 9.0 ** (1.0 - progress)) / 8.0

    def live_count(self, total, epoch):
        progress = min(max((epoch - self.start_epoch) / (self.end_epoch - self.start_epoch), 0.0), 1.0)
        return int(np.ceil(total ** (1.0 - progress) - 1e-9))


def _live(layer):
    """The number of live convolutions of a MultiBaseConv2D that are not fading."""
    return int(live_mask(tf.keras.backend.get_value(layer.mask), include_fading=False).sum())


class TotalBudget(pabt.Selection):
    """A global budget whose schedule runs over the network's total (one convolution per layer at the end).

    `budget="global"` follows the sum of the per-layer schedules, so its removals come in steps of one
    per layer at the same times; this total falls one convolution at a time.
    """

    def network_target(self, schedule, layers, time):
        total = sum(layer.weight_bases * layer.activation_bases for layer in layers)
        return len(layers) - 1 + schedule.live_count(total - len(layers) + 1, time)


class MeasuredImportance(pabt.Importance):
    """Scores each live convolution by the training loss measured without it.

    The loss increase on `samples` training images (batch statistics, as in training) replaces the
    Taylor estimate |c * dL/dc|, which is first order and a removal late in the schedule is not small.
    """

    def __init__(self, samples=512, seed=0):
        self.samples, self.seed = samples, seed
        self._x, self._y = None, None

    def set_training_data(self, x, y):
        self._x, self._y = x, y

    def scores(self, layer, event, layer_index):
        mask = tf.keras.backend.get_value(layer.mask)
        rng = np.random.default_rng([self.seed, event])
        chosen = rng.choice(len(self._x), size=min(len(self._x), self.samples), replace=False)
        x, y = tf.constant(self._x[chosen]), tf.constant(self._y[chosen])
        statistics = [v for m in self.model.submodules if isinstance(m, tf.keras.layers.BatchNormalization)
                      for v in (m.moving_mean, m.moving_variance)]
        saved = [v.numpy() for v in statistics]  # a training-mode call moves them
        loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        scores = np.full(mask.shape, np.inf)
        base = float(loss(y, self.model(x, training=True)))
        for live in zip(*np.nonzero(live_mask(mask, include_fading=False))):
            trial = mask.copy()
            trial[live] = 0.0
            layer.mask.assign(trial)
            scores[live] = float(loss(y, self.model(x, training=True))) - base
        layer.mask.assign(mask)
        for variable, value in zip(statistics, saved):
            variable.assign(value)
        # Held as a layer weight before, so float32: the same ties as the runs recorded.
        return np.where(np.isfinite(scores), scores - scores[np.isfinite(scores)].min(), 0.0).astype(np.float32)


class StaggeredSelection(pabt.Selection):
    """Per-layer schedules that end `lead` epochs apart, first layer first, the last at `end_epoch`.

    With one schedule every layer loses its second-last convolution at the same step; staggered,
    these last removals come one layer at a time. Layer i's phase is [start_epoch, end_i], its
    schedule compressed to fit.
    """

    def __init__(self, lead=0.5, **kwargs):
        super().__init__(**kwargs)
        self.lead = lead

    def targets(self, schedule, layers, time):
        start, end = schedule.start_epoch, schedule.end_epoch
        targets = []
        for index, layer in enumerate(layers):
            own_end = end - self.lead * (len(layers) - 1 - index)
            own_time = start + (time - start) * (end - start) / (own_end - start)
            targets.append(schedule.live_count(layer.weight_bases * layer.activation_bases, own_time))
        return targets


class DistillFromBefore(callbacks.PruneToBinary):
    """Distils the network into itself across pruning events: before a layer loses a convolution, the
    network's logits on the training split are recorded, and for `steps` training steps (None: to the
    end) the loss is alpha * cross-entropy + (1 - alpha) * T^2 * KL(recorded || current)
    (`tfbin.distillation`). `events="last"`: only at the last removal (every layer to one convolution).

    Each removal then trains toward the function the network had before it instead of toward the labels
    alone. Fit with `loss=prune.loss`, targets `label_and_index(y)` and metrics [`accuracy`].
    """

    def __init__(self, *args, alpha=0.5, temperature=2.0, events="all", steps=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.temperature, self.events, self.steps = alpha, temperature, events, steps
        self._weight = tf.Variable(0.0, trainable=False)  # 1 while distilling, else labels alone
        self._x = self._teacher = None
        self._left = 0

    def set_training_data(self, x, classes):
        self._x = x
        self._teacher = tf.Variable(tf.zeros([len(x), classes]), trainable=False)

    def on_train_batch_begin(self, batch, logs=None):
        super().on_train_batch_begin(batch, logs)
        if self.steps is not None:
            self._weight.assign(1.0 if self._left > 0 else 0.0)
            self._left -= 1

    def prune(self, time, event):
        targets = self.selection.targets(self.schedule, self.layers, time)
        removes = any(_live(layer) > target for layer, target in zip(self.layers, targets))
        if removes and (self.events == "all" or all(t == 1 for t in targets)):
            self.reestimate_statistics()  # the statistics of the network that is recorded
            self._teacher.assign(self.model(self._x, training=False))
            self._weight.assign(1.0)
            self._left = self.steps or 0
        super().prune(time, event)

    def loss(self, target, logits):
        labels, index = target[:, 0], tf.cast(target[:, 1], tf.int32)
        hard = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        soft = distillation.distillation_loss(tf.gather(self._teacher, index), logits, self.temperature)
        share = self._weight * (1.0 - self.alpha)
        return (1.0 - share) * tf.reduce_mean(hard) + share * soft


def label_and_index(y):
    """Targets for `DistillFromBefore.loss`: each label with its row in the training split."""
    return np.stack([y, np.arange(len(y))], axis=1).astype(np.int64)


def accuracy(target, logits):
    return tf.keras.metrics.sparse_categorical_accuracy(target[:, 0], logits)


def _bop(model):
    return next(o for o in model.optimizer.optimizers if isinstance(o, lq.optimizers.Bop))


class _AfterPruning(tf.keras.callbacks.Callback):
    """Calls `step(changed)` at the start of every training step with the layers whose masks changed.

    Place it after PruneToBinary, which prunes at the start of a step.
    """

    def on_train_begin(self, logs=None):
        self._layers = [m for m in self.model.submodules if isinstance(m, MultiBaseConv2D)]
        self._masks = None

    def on_train_batch_begin(self, batch, logs=None):
        masks = [tf.keras.backend.get_value(layer.mask).copy() for layer in self._layers]
        previous = self._masks or masks
        self._masks = masks
        self.step([layer for layer, new, old in zip(self._layers, masks, previous) if not np.array_equal(new, old)])

    def step(self, changed):
        raise NotImplementedError


class HoldFlips(_AfterPruning):
    """For `steps` training steps after any pruning event, Bop neither accumulates nor flips (gamma 0).

    `steps="rest"`: from the last pruning event (one convolution per layer) to the end of training.
    """

    def __init__(self, steps, gamma):
        super().__init__()
        self.steps, self.gamma = steps, gamma
        self._left = 0

    def step(self, changed):
        if self.steps == "rest":  # from the last removal to the end of training
            self._left = 1 if all(live_mask(mask, include_fading=False).sum() <= 1 for mask in self._masks) else 0
        elif changed:
            self._left = self.steps
        _bop(self.model)._set_hyper("gamma", 0.0 if self._left > 0 else self.gamma)
        self._left -= 1


class ScaleBopMemory(_AfterPruning):
    """After a layer loses convolutions, multiplies Bop's gradient average m of its kernel by `factor`.

    m averages gradients of the network before the removal; a smaller m lets the kernel follow the
    gradients of the pruned one sooner.
    """

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def step(self, changed):
        bop = _bop(self.model)
        # Bop's own step count: larq's CaseOptimizer does not advance its `iterations`.
        if int(bop.iterations) > 0:
            for layer in changed:
                m = bop.get_slot(layer.kernel, "m")
                m.assign(m * self.factor)


class CappedBop(lq.optimizers.Bop):
    """Bop that flips at most `max_fraction` of a kernel's weights per step, those with the largest |m|.

    A removal sets off a burst of flips; this spreads it over more steps.
    """

    def __init__(self, max_fraction, **kwargs):
        super().__init__(**kwargs)
        self.max_fraction = max_fraction

    def _resource_apply_dense(self, grad, var):
        var_dtype = var.dtype.base_dtype
        gamma = self._get_decayed_hyper("gamma", var_dtype)
        threshold = self._get_decayed_hyper("threshold", var_dtype)
        m = self.get_slot(var, "m")
        m_t = m.assign_add(gamma * (grad - m))
        wanted = var * m_t - threshold > 0  # Bop's flip condition
        strength = tf.reshape(tf.where(wanted, tf.abs(m_t), tf.zeros_like(m_t)), [-1])
        cap = max(1, int(self.max_fraction * var.shape.num_elements()))
        weakest_allowed = tf.math.top_k(strength, cap).values[-1]
        allowed = tf.logical_and(wanted, tf.reshape(strength, tf.shape(var)) >= weakest_allowed)
        return var.assign(tf.where(allowed, -var, var)).op


def capped_optimizer(max_fraction, learning_rate=1e-3, gamma=1e-3, threshold=1e-7):
    """`training.default_optimizer`'s Bop + Adam, with Bop's flips per step capped."""
    return lq.optimizers.CaseOptimizer(
        (optimizers.is_bop_variable, CappedBop(max_fraction, threshold=threshold, gamma=gamma)),
        default_optimizer=tf.keras.optimizers.legacy.Adam(learning_rate),
    )


# PruneToBinary keyword arguments of each setting, over `phase(epochs)`, every step unless told;
# "training" holds what else differs: Bop's settings (`training.default_optimizer` arguments), the
# batch size, and the extra callbacks above (hold_flips, bop_memory, measured importance, total budget).
VARIANTS = {
    "linear": dict(schedule="linear"),
    "polynomial": dict(schedule="polynomial"),
    "geometric": dict(schedule="geometric"),
    "epochwise": dict(schedule="linear", frequency="epoch"),
    "fade_half_epoch": dict(schedule="linear", fade_steps="half"),
    "fade_epoch": dict(schedule="linear", fade_steps="epoch"),
    "global": dict(schedule="linear", budget="global"),
    "global+fade_half_epoch": dict(schedule="linear", budget="global", fade_steps="half"),
    "activations_first": dict(schedule="linear", order="activations_first"),
    "weights_first": dict(schedule="linear", order="weights_first"),
    "polynomial+window_epoch": dict(schedule="polynomial", importance_window="epoch"),
    "polynomial+window_100": dict(schedule="polynomial", importance_window=100),
    "polynomial+measured_importance": dict(schedule="polynomial", training=dict(measured_importance=512)),
    "polynomial+total_budget": dict(schedule="polynomial", budget="global", training=dict(total_budget=True)),
    "polynomial+hold_flips_8": dict(schedule="polynomial", training=dict(hold_flips=8)),
    "polynomial+hold_flips_epoch": dict(schedule="polynomial", training=dict(hold_flips="epoch")),
    "polynomial+hold_flips_after_last": dict(schedule="polynomial", training=dict(hold_flips="rest")),
    "polynomial+bop_memory_0.3": dict(schedule="polynomial", training=dict(bop_memory=0.3)),
    "polynomial+bop_memory_0.1": dict(schedule="polynomial", training=dict(bop_memory=0.1)),
    "polynomial+bop_memory_0": dict(schedule="polynomial", training=dict(bop_memory=0.0)),
    "polynomial+bop_gamma_3e-3": dict(schedule="polynomial", training=dict(optimizer=dict(gamma=3e-3))),
    "polynomial+bop_gamma_3e-4": dict(schedule="polynomial", training=dict(optimizer=dict(gamma=3e-4))),
    "polynomial+bop_threshold_1e-6": dict(schedule="polynomial", training=dict(optimizer=dict(threshold=1e-6))),
    "polynomial+bop_threshold_1e-5": dict(schedule="polynomial", training=dict(optimizer=dict(threshold=1e-5))),
    "polynomial+staggered_0.5": dict(schedule="polynomial", training=dict(stagger=0.5)),
    "polynomial+staggered_0.25": dict(schedule="polynomial", training=dict(stagger=0.25)),
    "polynomial+staggered_1": dict(schedule="polynomial", training=dict(stagger=1.0)),
    "polynomial+distill_before": dict(schedule="polynomial",
                                      training=dict(distill=dict(alpha=0.5, temperature=2.0))),
    "polynomial+distill_last": dict(schedule="polynomial",
                                    training=dict(distill=dict(alpha=0.5, temperature=2.0, events="last"))),
    "polynomial+distill_epoch": dict(schedule="polynomial",
                                     training=dict(distill=dict(alpha=0.5, temperature=2.0, steps="epoch"))),
    "polynomial+batch_32": dict(schedule="polynomial", training=dict(batch_size=32)),
    "polynomial+flip_cap_0.5%": dict(schedule="polynomial", training=dict(flip_cap=0.005)),
    "polynomial+flip_cap_2%": dict(schedule="polynomial", training=dict(flip_cap=0.02)),
}
UNPRUNED = {"unpruned_1x1": (1, 1), "unpruned_3x3": (3, 3), "unpruned_1x1+batch_32": (1, 1)}
UNPRUNED_TRAINING = {"unpruned_1x1+batch_32": dict(batch_size=32)}


def _split():
    arrays = data.digits_arrays()
    x_fit, x_val, y_fit, y_val = train_test_split(arrays.x_train, arrays.y_train, test_size=0.25, random_state=0,
                                                  stratify=arrays.y_train)
    return data.Arrays(x_fit, y_fit, x_val, y_val, num_classes=10)


def prune_callback(variant, epochs, seed, split, batch_size=64):
    settings = dict(VARIANTS[variant])
    extra = settings.pop("training", {})
    steps = training.steps_per_epoch(split, batch_size)  # as training.train fits it
    fade = settings.pop("fade_steps", None)
    if fade:
        settings["fade_steps"] = steps // 2 if fade == "half" else steps
    if settings.get("importance_window") == "epoch":
        settings["importance_window"] = steps
    # A schedule object holds the phase itself; a schedule name takes it from the arguments.
    schedule, phase_epochs = settings.pop("schedule"), phase(epochs)
    if schedule == "geometric":
        schedule, phase_epochs = GeometricSchedule(*phase_epochs), ()
    settings.setdefault("frequency", "step")
    options = prune_options(settings)
    kind = callbacks.PruneToBinary
    if extra.get("total_budget"):
        options["selection"] = TotalBudget(**options["selection"].get_config())
    elif extra.get("measured_importance"):
        options["importance"] = MeasuredImportance(extra["measured_importance"], seed)
        options["importance"].set_training_data(split.x_train, split.y_train)
    elif extra.get("stagger"):
        options["selection"] = StaggeredSelection(extra["stagger"])
    elif extra.get("distill"):
        distill = dict(extra["distill"])
        if distill.get("steps") == "epoch":
            distill["steps"] = steps
        kind = functools.partial(DistillFromBefore, **distill)
    prune = kind(*phase_epochs, schedule=schedule, update_every=1, seed=seed, statistics_data=split.x_train,
                 **options)
    if extra.get("distill"):
        prune.set_training_data(split.x_train, split.num_classes)
    return prune


def training_settings(variant):
    """What a setting changes besides PruneToBinary's arguments (`VARIANTS[...]["training"]`)."""
    return dict(VARIANTS.get(variant, {}).get("training", UNPRUNED_TRAINING.get(variant, {})))


def extra_callbacks(variant, split, batch_size, gamma):
    """The callbacks that go after PruneToBinary for `variant`."""
    settings = training_settings(variant)
    extra = []
    if "hold_flips" in settings:
        hold = settings["hold_flips"]
        steps = training.steps_per_epoch(split, batch_size) if hold == "epoch" else hold
        extra.append(HoldFlips(steps, gamma))
    if "bop_memory" in settings:
        extra.append(ScaleBopMemory(settings["bop_memory"]))
    return extra


def falls(curve, epochs):
    """(max drop, max fall) of `curve` over the pruning phase, as PruneToBinary logs them."""
    start, end = phase(epochs)
    reference = peak = curve[start - 1]
    drop = fall = 0.0
    for value in curve[start:end + 1]:
        drop, peak = max(drop, reference - value), max(peak, value)
        fall = max(fall, peak - value)
    return drop, fall


def run(variant, epochs, seed, split, width=WIDTH):
    m, n = UNPRUNED.get(variant, (3, 3))
    settings = training_settings(variant)
    batch_size = settings.get("batch_size", 64)
    # The constant Bop + Adam setting these results were measured with (the defaults before BOP_DEFAULTS).
    bop = {"learning_rate": 1e-3, "gamma": 1e-3, "threshold": 1e-7, **settings.get("optimizer", {})}
    tf.keras.utils.set_random_seed(seed)
    model = zoo.digits_resnet(width=width, conv="mbn", weight_bases=m, activation_bases=n)
    extra = [] if variant in UNPRUNED else [prune_callback(variant, epochs, seed, split, batch_size)]
    extra += extra_callbacks(variant, split, batch_size, bop["gamma"])
    if "flip_cap" in settings:
        optimizer = capped_optimizer(settings["flip_cap"], **bop)
    else:
        optimizer = training.default_optimizer(model, **bop)
    if "distill" in settings:
        model.compile(optimizer, extra[0].loss, metrics=[accuracy])
        # The validation rows' indices point into the training split's logits: val_loss means nothing
        # here, val_accuracy (the figure read) reads the labels only.
        history = model.fit(split.x_train, label_and_index(split.y_train), batch_size=batch_size, epochs=epochs,
                            validation_data=(split.x_test, label_and_index(split.y_test)), callbacks=extra,
                            verbose=0).history
    else:
        history = training.train(model, split, epochs, optimizer=optimizer, callbacks=extra,
                                 batch_size=batch_size, verbose=0).history
    curve = [round(float(v), 4) for v in history["val_accuracy"]]
    drop, fall = falls(curve, epochs)
    return {"variant": variant, "epochs": epochs, "seed": seed, "width": width, "curve": curve, "final": curve[-1],
            "max_drop": drop, "max_fall": fall, "train_curve": [round(float(v), 4) for v in history["accuracy"]]}


def table(records):
    # Records saved before runs had a width were all of WIDTH.
    widths = sorted({r.get("width", WIDTH) for group in records.values() for r in group})
    lines = [
        "digits validation split (a stratified quarter of the training split), digits_resnet width "
        f"{', '.join(map(str, widths))}, "
        "constant eta, PaBT 3/3 -> 1/1 over `PruneToBinary.for_epochs`' phase (12 epochs: the demo's "
        "configuration, pruning from epoch 1 to 5); falls in percentage points over the pruning phase",
        "",
        "| setting | epochs | threads | seeds | final acc. mean | max fall mean | worst | seeds > 3 pp "
        "| max drop worst | seeds > 3 pp |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (variant, epochs, threads), group in records.items():
        final = np.mean([r["final"] for r in group])
        fall = [100 * r["max_fall"] for r in group]
        drop = [100 * r["max_drop"] for r in group]
        lines.append(f"| {variant} | {epochs} | {threads or 'all'} | {len(group)} | {final:.4f} | "
                     f"{np.mean(fall):.1f} | {max(fall):.1f} | {sum(f > 3 for f in fall)} | {max(drop):.1f} | "
                     f"{sum(d > 3 for d in drop)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*VARIANTS, *UNPRUNED]
    parser.add_argument("--variants", nargs="+", default=names, choices=names)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every run (the demo trains 12)")
    parser.add_argument("--out", default=os.path.join(RESULTS, "select", "smoothness.md"))
    parser.add_argument("--table-from", nargs="+", default=None, metavar="RUNS_JSON")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow threads (default: all cores); float order, and so a run, depends on it")
    add_quick_flag(parser, f"width {QUICK_WIDTH}, 2 epochs (the fewest with a pruning phase), the first seed, "
                           + QUICK_DIGITS)
    args = parser.parse_args(argv)
    start_quick(args)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    command = "python benchmarks/pabt_smoothness.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    records = []
    if args.table_from:
        for path in args.table_from:
            with open(path) as f:
                records += json.load(f)
    else:
        split, width, epochs, seeds = _split(), WIDTH, args.epochs, args.seeds
        if args.quick:
            split, width, epochs, seeds = quick_digits(split), QUICK_WIDTH, 2, seeds[:1]
        for seed in seeds:
            for variant in args.variants:
                records.append({**run(variant, epochs, seed, split, width), "threads": args.threads,
                                "command": command})
                r = records[-1]
                print(f"{variant:24s} seed {seed}: final {r['final']:.4f}  max drop {100 * r['max_drop']:.1f} pp  "
                      f"max fall {100 * r['max_fall']:.1f} pp", flush=True)
        write_json(os.path.splitext(args.out)[0] + ".json", records)
    grouped = {}
    for record in records:
        key = (record["variant"], record.get("epochs", 12), record.get("threads"))
        grouped.setdefault(key, []).append(record)
    commands = sorted({r["command"] for r in records})
    print_and_save(table(grouped) + "\nCommands:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
