"""The `tfbin tune` command: search Bop's hyperparameters with `tfbin.tuning`.

    tfbin tune --preset quick --dataset digits --max-trials 8 --epochs 3 --out tune-out

Run again with the same `--out` and a larger `--max-trials` to go on with the
search. This module only declares the command, so that `tfbin --help` does not
wait for TensorFlow; the search itself lives in `tfbin.tuning`.
"""
import dataclasses
import os
import sys
import time

from tfbin.cli import positive_float, positive_int, writable_dir

__all__ = ["MODELS", "add_cli"]

MODELS = ("digits_resnet", "resnet20")

# Flags that replace a dimension of the preset: dimension -> (argparse options, help).
_OVERRIDES = {
    "learning_rate": ({"type": positive_float}, "eta values of Adam/AMSGrad"),
    "gamma": ({"type": positive_float}, "adaptivity rates phi of Bop"),
    "threshold": ({"type": positive_float}, "thresholds tau of Bop"),
    "optimizer": ({"choices": ("adam", "amsgrad")}, "optimizers (adam, amsgrad) of the non-binary variables"),
    "final_learning_rate": ({"type": positive_float}, "final eta values (linear schedule)"),
    "final_gamma": ({"type": positive_float}, "final phi values (linear schedule)"),
}


def add_cli(commands):
    """Adds the `tune` subcommand to the `tfbin` command's subparsers."""
    tune = commands.add_parser(
        "tune",
        help="search Bop's hyperparameters (eta, phi, tau, Adam/AMSGrad) with Keras Tuner",
        description=(
            "Train one model per point of a search space of Bop hyperparameters and keep "
            "the best. Writes OUT/results.csv, OUT/results.md and OUT/val_accuracy.png, and "
            "prints the best optimizer as code. Run again with the same --out and a larger "
            "--max-trials to go on with the search."
        ),
    )
    tune.add_argument(
        "--preset", default="quick",
        help="search space: quick (default), pabt-cifar10, pabt-imagenet or another name in tfbin.tuning.PRESETS",
    )
    tune.add_argument("--tuner", choices=("grid", "random", "bayesian", "hyperband"), default="grid")
    tune.add_argument("--max-trials", type=positive_int,
                      help="trials in all, finished ones included (default: the whole space)")
    tune.add_argument("--epochs", type=positive_int, default=3,
                      help="training epochs per trial, Hyperband's maximum (default 3)")
    tune.add_argument("--dataset", default="digits",
                      help="digits (default, offline), cifar10, cifar100 or imagenet2012 (prepared TFDS data)")
    tune.add_argument("--data-dir", help="TFDS data dir holding the prepared dataset")
    tune.add_argument("--image-size", type=positive_int, help="resize images to this size")
    tune.add_argument("--batch-size", type=positive_int, default=64)
    tune.add_argument("--model", choices=MODELS, default="digits_resnet")
    tune.add_argument("--width", type=positive_int, help="channels of the first stage (default: the model's)")
    tune.add_argument("--conv", choices=("bnn", "mbn"), default="bnn",
                      help="1-bit convolutions, or multi-base ones (MBN)")
    tune.add_argument("--weight-bases", type=positive_int, default=1, help="MBN weight bases M")
    tune.add_argument("--activation-bases", type=positive_int, default=1, help="MBN activation bases N")
    for dimension, (options, text) in _OVERRIDES.items():
        tune.add_argument(
            "--" + dimension.replace("_", "-"), dest=dimension, nargs="*", metavar="VALUE",
            help=f"replace the preset's {text}", **options,
        )
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", type=writable_dir, required=True, help="results and the search's state")
    tune.add_argument("--quiet", action="store_true", help="no progress output")
    tune.set_defaults(handler=_tune)


def _tune(args):
    from tfbin import data, tuning, zoo

    space = tuning.get_space(args.preset)
    overrides = {d: getattr(args, d) for d in _OVERRIDES if getattr(args, d) is not None}
    if overrides:
        changed = ", ".join("--" + d.replace("_", "-") for d in overrides)
        space = dataclasses.replace(space, **overrides, description=f"{space.description} (changed: {changed})")
    if args.conv != "mbn" and (args.weight_bases, args.activation_bases) != (1, 1):
        raise ValueError("--weight-bases and --activation-bases need --conv mbn")
    try:
        dataset = data.load_dataset(
            args.dataset, batch_size=args.batch_size, image_size=args.image_size, seed=args.seed,
            data_dir=args.data_dir,
        )
    except data.DatasetUnavailableError as error:
        raise SystemExit(f"tfbin tune: error: {error}")
    model_kwargs = {"conv": args.conv}
    if args.conv == "mbn":
        model_kwargs.update(weight_bases=args.weight_bases, activation_bases=args.activation_bases)
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
            verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2), settings=settings,
        )
    except KeyboardInterrupt:
        raise SystemExit(f"\ntfbin tune: interrupted; the same command goes on with the search in {args.out}")
    print(
        f"\n{len(search.rows)} trials finished ({time.monotonic() - start:.0f} s this run); "
        f"results in {os.path.join(args.out, 'results.csv')}, results.md and val_accuracy.png"
    )
    if search.best is None:
        raise SystemExit("tfbin tune: error: no trial finished; see the messages above")
    print(
        f"Best: trial {search.best['trial']}, val accuracy {search.best['best_val_accuracy']:.4f} "
        f"(epoch {search.best['best_epoch']} of {search.best['epochs']}). As code:\n"
    )
    print(search.code)
