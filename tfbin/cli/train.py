"""`tfbin train`: run one of the papers' recipes, then convert the result with LCE.

    tfbin train --list
    tfbin train --recipe pabt-resnet20-cifar10 --data-dir ~/tensorflow_datasets --out runs/r20
    tfbin train --recipe pabt-resnet20-cifar10 --dataset digits --epochs 2 --out runs/quick
"""
import os

from tfbin.choices import STRATEGIES
from tfbin.cli.args import fail, positive_int, verbosity, writable_dir
from tfbin.recipes.catalog import QUICK_DATASETS, RECIPES


def add_parser(commands):
    parser = commands.add_parser(
        "train", help="run a paper's training recipe (checkpoints, TensorBoard, resume) and convert it with LCE",
        description="Train one of the papers' setups (see --list). Checkpoints every epoch to OUT/checkpoints, "
        "keeps a backup that the same command resumes from after a crash or a kill (at the last finished epoch, "
        "with the pruning masks, the optimizer and the schedules as they were), writes TensorBoard logs to "
        "OUT/logs and one row per epoch to OUT/history.csv, and ends with OUT/model.keras and OUT/model.tflite "
        "(LCE, parity checked). Every file is replaced in one step: a kill never leaves half of one.",
    )
    parser.add_argument("--recipe", choices=sorted(RECIPES), help="the recipe to run (see --list)")
    parser.add_argument("--list", action="store_true", help="list the recipes and what their papers report")
    parser.add_argument("--out", type=writable_dir, help="where everything goes (required to train)")
    parser.add_argument("--epochs", type=positive_int, help="override the recipe's length; schedules keep their shape")
    parser.add_argument("--dataset", choices=tuple(QUICK_DATASETS.values()),
                        help="run on bundled data instead (digits for classification recipes, digit_scenes for "
                        "segmentation ones): a quick end-to-end check")
    parser.add_argument("--data-dir", help="TFDS data dir holding the recipe's prepared dataset")
    parser.add_argument("--manual-dir", help="folder with the archives of a manual dataset (ImageNet, Cityscapes)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="mirrored: all GPUs of this host; multiworker: the hosts in TF_CONFIG")
    parser.add_argument("--batch-size", type=positive_int, help="per-replica batch size (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run, parser=parser)


def _listing():
    lines = []
    for name, recipe in sorted(RECIPES.items()):
        lines += [f"{name}", f"    {recipe.title}", f"    {recipe.dataset}, {recipe.epochs} epochs, "
                  f"batch {recipe.batch_size}", f"    from: {recipe.source}", f"    reported: {recipe.reported}"]
    return "\n".join(lines)


def run(args):
    if args.list:
        print(_listing())
        return
    if not args.recipe or not args.out:
        fail("--recipe and --out are needed to train (or --list to see the recipes)")
    from tfbin import recipes
    from tfbin.convert import ConversionError, convert
    from tfbin.data import DatasetUnavailableError

    try:
        run = recipes.train(
            args.recipe, args.out, epochs=args.epochs, dataset=args.dataset, strategy=args.strategy,
            batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir, manual_dir=args.manual_dir,
            verbose=verbosity(args),
            # Until model.tflite is written: a kill before then resumes rather than trains again.
            keep_backup=True,
        )
    except DatasetUnavailableError as error:
        fail(str(error), 1)
    if run.model_path is None:
        return  # a worker that is not the chief: the chief converts
    try:
        conversion = convert(run.model, calibration_data=run.calibration)
    except ConversionError as error:
        run.discard_backup()  # training is over; converting again would fail the same way
        fail(f"{error}\nthe trained model is in {run.model_path}", 1)
    tflite = os.path.join(args.out, "model.tflite")
    try:
        conversion.save(tflite)
    except OSError as error:
        fail(f"cannot write {tflite}: {error.strerror or error}; run the same command again to convert the "
             f"trained model", 1)
    run.discard_backup()
    print(f"wrote {run.model_path} and {tflite} ({conversion.size_bytes:,} bytes; parity: "
          f"{conversion.parity.describe()})")
