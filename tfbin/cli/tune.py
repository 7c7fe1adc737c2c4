"""`tfbin tune`: search Bop's hyperparameters with `tfbin.tuning`.

    tfbin tune --preset quick --dataset digits --max-trials 8 --epochs 3 --out tune-out

Run again with the same `--out` and a larger `--max-trials` to go on with the search.
Several machines search together through Keras Tuner's distributed mode: run
the same command on each, with KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT
and KERASTUNER_TUNER_ID ("chief" on one, worker ids on the others) set. A
worker that dies mid-trial loses nothing: see --worker-timeout.
"""
import argparse
import dataclasses
import os
import time

from tfbin import kinds
from tfbin.choices import OPTIMIZERS, TUNERS
from tfbin.cli.args import add_dataset_arguments, fail, positive_float, positive_int, verbosity, writable_dir
from tfbin.tuning.space import PRESETS

DESCRIPTION = """\
Train one model per point of a search space of Bop hyperparameters and keep
the best. Writes OUT/results.csv, OUT/results.md and OUT/val_accuracy.png,
and prints the best optimizer as code. Run again with the same --out and a
larger --max-trials to go on with the search. Several machines can search
together: see "distributed search" below.

Every trial decays eta and phi over its --epochs: the quick preset linearly
to 1% of their initial values, starting from tfbin's Bop defaults (eta 1e-2,
phi 1e-3, tau 1e-7) as tfbin.training.train does, and the pabt presets as
PaBT does. With a constant eta and phi, Bop flips weights up to the last step
and runs end lower and less steadily on held-out data
(benchmarks/results/train_defaults.md holds the measurement).
"""

DISTRIBUTED_HELP = """\
distributed search (Keras Tuner's chief and workers):
  Run the same command, with the same --out on storage every machine shares,
  on each machine, with these environment variables set:
    KERASTUNER_ORACLE_IP    the chief's address, the same on every machine
    KERASTUNER_ORACLE_PORT  the port the chief serves the search on
    KERASTUNER_TUNER_ID     "chief" on one machine, an id of its own on each
                            worker ("worker0", "worker1", ...)
  The chief hands out the trials and writes the results; the workers train
  them. A worker that dies mid-trial loses nothing: restarted with the same
  id it runs its trial again, and after --worker-timeout seconds without a
  word from it the chief gives the trial to the next worker that asks (idle
  workers wait while trials still run). Run the same commands again with a
  larger --max-trials to go on.

  chief:   KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
           KERASTUNER_TUNER_ID=chief tfbin tune --max-trials 12 --out /shared/tune
  worker:  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
           KERASTUNER_TUNER_ID=worker0 tfbin tune --max-trials 12 --out /shared/tune
"""

# The zoo builders a search can train.
MODELS = ("digits_resnet", "resnet20")

# Flags that replace a dimension of the preset: dimension -> (argparse options, help).
_OVERRIDES = {
    "learning_rate": ({"type": positive_float}, "eta values of Adam/AMSGrad"),
    "gamma": ({"type": positive_float}, "adaptivity rates phi of Bop"),
    "threshold": ({"type": positive_float}, "thresholds tau of Bop"),
    "optimizer": ({"choices": OPTIMIZERS}, "optimizers of the non-binary variables"),
    "final_learning_rate": ({"type": positive_float},
                            "final eta values (linear schedule; quick ends at 1%% of each initial value)"),
    "final_gamma": ({"type": positive_float}, "final phi values (linear schedule; give with --final-learning-rate)"),
}


def add_parser(commands):
    parser = commands.add_parser(
        "tune",
        help="search Bop's hyperparameters (eta, phi, tau, Adam/AMSGrad) with Keras Tuner",
        description=DESCRIPTION,
        epilog=DISTRIBUTED_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                        help="search space (default quick); " + "; ".join(
                            f"{name}: {space.description}" for name, space in sorted(PRESETS.items())
                        ).replace("%", "%%"))
    parser.add_argument("--tuner", choices=TUNERS, default="grid")
    parser.add_argument("--max-trials", type=positive_int,
                        help="trials in all, finished ones included (default: the whole space)")
    parser.add_argument("--epochs", type=positive_int, default=3,
                        help="training epochs per trial, Hyperband's maximum (default 3)")
    add_dataset_arguments(parser)
    parser.add_argument("--image-size", type=positive_int, help="resize images to this size")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--model", choices=MODELS, default="digits_resnet")
    parser.add_argument("--width", type=positive_int, help="channels of the first stage (default: the model's)")
    parser.add_argument("--conv", choices=[kind for kind in kinds.names() if kind != "float"], default="bnn",
                        help="1-bit convolutions, or multi-base ones (MBN); Bop trains binary weights only")
    parser.add_argument("--weight-bases", type=positive_int, default=1, help="MBN weight bases M")
    parser.add_argument("--activation-bases", type=positive_int, default=1, help="MBN activation bases N")
    for dimension, (options, text) in _OVERRIDES.items():
        parser.add_argument(
            "--" + dimension.replace("_", "-"), dest=dimension, nargs="*", metavar="VALUE",
            help=f"replace the preset's {text}", **options,
        )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker-timeout", type=positive_float, default=60.0, metavar="SECONDS",
                        help="distributed: silence after which the chief takes a worker for dead and gives its "
                        "trial to another (default 60; workers speak every sixth of it; give all the same)")
    parser.add_argument("--out", type=writable_dir, required=True, help="results and the search's state")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run, parser=parser)


def _space(args):
    space = PRESETS[args.preset]
    overrides = {d: getattr(args, d) for d in _OVERRIDES if getattr(args, d) is not None}
    if not overrides:
        return space
    changed = ", ".join("--" + d.replace("_", "-") for d in overrides)
    return dataclasses.replace(space, **overrides, description=f"{space.description} (changed: {changed})")


def run(args):
    from tfbin import data, tuning, zoo

    bases = {"weight_bases": args.weight_bases, "activation_bases": args.activation_bases}
    taken = {name: value for name, value in bases.items() if name in kinds.get_kind(args.conv).options}
    if taken != bases and (args.weight_bases, args.activation_bases) != (1, 1):
        fail("--weight-bases and --activation-bases need --conv mbn")
    space = _space(args)
    try:
        dataset = data.load_dataset(
            args.dataset, batch_size=args.batch_size, image_size=args.image_size, seed=args.seed,
            data_dir=args.data_dir, manual_dir=args.manual_dir,
        )
    except data.DatasetUnavailableError as error:
        fail(str(error), 1)
    model_kwargs = {"conv": args.conv, **taken}
    if args.width is not None:
        model_kwargs["width"] = args.width
    builder = getattr(zoo, args.model)

    def build_model(hp):
        return builder(dataset.input_shape, dataset.num_classes, **model_kwargs)

    settings = {
        "preset": args.preset,
        "dataset": args.dataset,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "model": args.model,
        **model_kwargs,
    }
    start = time.monotonic()
    try:
        search = tuning.tune(
            build_model, dataset.train, dataset.test, args.out, space=space, tuner=args.tuner,
            max_trials=args.max_trials, epochs=args.epochs, seed=args.seed,
            verbose=verbosity(args), settings=settings,
            worker_timeout=args.worker_timeout,
        )
    except KeyboardInterrupt:
        fail(f"interrupted; the same command goes on with the search in {args.out}", 1)
    if search.role == "worker":
        print(f"\nno trials left for this worker ({time.monotonic() - start:.0f} s); the chief writes the results")
        return
    print(
        f"\n{len(search.rows)} trials finished ({time.monotonic() - start:.0f} s this run); "
        f"results in {os.path.join(args.out, 'results.csv')}, results.md and val_accuracy.png"
    )
    if search.best is None:
        fail("no trial finished; see the messages above", 1)
    print(
        f"Best: trial {search.best['trial']}, val accuracy {search.best['best_val_accuracy']:.4f} "
        f"(epoch {search.best['best_epoch']} of {search.best['epochs']}). As code:\n"
    )
    print(search.code)
