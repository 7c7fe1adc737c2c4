"""The `tfbin` command.

    tfbin --version
    tfbin demo --epochs 12 --out demo-out
    tfbin summary model.keras
"""
import argparse
import os
import sys
import tempfile

__all__ = ["load_model_or_exit", "main", "number", "positive_float", "positive_int", "writable_dir"]


def number(convert, accept, description):
    """An argparse type: `convert(text)` if `accept` takes it, else an error naming `description`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}")
        return value

    return parse


positive_int = number(int, lambda v: v >= 1, "a positive integer")
positive_float = number(float, lambda v: v > 0, "a positive number")


def writable_dir(text):
    """An output directory that exists or can be made, and can be written to."""
    try:
        os.makedirs(text, exist_ok=True)
        with tempfile.TemporaryFile(dir=text):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {error.strerror or error}")
    return text


def _demo(args):
    from tfbin import demo

    demo.run_demo(epochs=args.epochs, width=args.width, seed=args.seed, out=args.out,
                  verbose=0 if args.quiet else 1, dataset=args.dataset, data_dir=args.data_dir)


def load_model_or_exit(path, command):
    """Loads a .keras, .h5 or SavedModel path, or exits 2 with an error saying why not."""
    import tensorflow as tf

    def fail(message):
        print(f"tfbin {command}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    if not os.path.exists(path):
        fail(f"model {path!r} does not exist")
    try:
        return tf.keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises assorted types for unreadable files
        fail(f"cannot load model {path!r}: {str(error).splitlines()[0][:300]}")


def _summary(args):
    import json

    from tfbin import cost

    model = load_model_or_exit(args.model, "summary")
    model_cost = cost.model_cost(model)
    print(json.dumps(model_cost.to_dict(), indent=2) if args.json else model_cost.table())


def build_parser():
    from tfbin import __version__

    parser = argparse.ArgumentParser(
        prog="tfbin",
        description="Train, compress, convert and benchmark binary neural networks (Larq + LCE).",
    )
    parser.add_argument("--version", action="version", version=f"tfbin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    from tfbin.data import DATASETS

    demo = commands.add_parser(
        "demo", help="train binary nets (BNN, MBN 3/3, PaBT), convert with LCE, check parity, time them"
    )
    demo.add_argument("--epochs", type=positive_int, default=12, help="training epochs per model (default 12)")
    demo.add_argument("--dataset", choices=DATASETS, default="digits",
                      help="digits (bundled, default) or a TFDS dataset prepared in --data-dir")
    demo.add_argument("--data-dir", help="TFDS data dir for cifar10/cifar100/imagenet2012")
    demo.add_argument("--width", type=positive_int, default=32, help="channels of the first stage (default 32)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", type=writable_dir, help="write report.json and plots here")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(handler=_demo)

    summary = commands.add_parser("summary", help="bit-OPs, FLOPs, OPs and Mbit of a saved model")
    summary.add_argument("model", help="a .keras, .h5 or SavedModel path")
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summary.set_defaults(handler=_summary)

    from tfbin.convert import cli as convert_cli
    convert_cli.add_cli(commands)

    from tfbin import tuning_cli
    tuning_cli.add_cli(commands)
    return parser


def main(argv=None):
    import tensorflow as tf

    # AutoGraph's notes about larq internals are not for the command's users.
    tf.get_logger().setLevel("ERROR")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from tfbin.convert import ConversionError
    from tfbin.data import DatasetUnavailableError

    try:
        args.handler(args)
    except ValueError as error:
        print(f"tfbin {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ConversionError, DatasetUnavailableError) as error:
        print(f"tfbin {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
