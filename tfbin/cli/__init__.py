"""The `tfbin` command: one module per subcommand, sharing `tfbin.cli.args`.

    tfbin --help
    tfbin demo --out demo-out
    tfbin summary model.keras
    tfbin convert model.keras -o model.tflite --calibration digits
    tfbin bench model.tflite --threads 1
    tfbin tune --preset quick --out tune-out
    tfbin train --recipe pabt-resnet20-cifar10 --dataset digits --epochs 2 --out run

Each subcommand module has `add_parser(commands)`, which declares its options
without importing TensorFlow, and `run(args)`, which imports what the work
needs. The library never imports this package.

Exit status: 0 on success, 2 for bad arguments or unreadable inputs, 1 when
the work could not be done (a conversion refused, a dataset missing, ...).
"""
import argparse
import logging
import sys

from tfbin.cli import bench, convert, demo, summary, train, tune
from tfbin.cli.args import CommandError, translate

__all__ = ["build_parser", "main"]

COMMANDS = (demo, train, summary, convert, bench, tune)


def build_parser():
    from tfbin import __version__

    parser = argparse.ArgumentParser(
        prog="tfbin",
        description="Train, compress, convert and benchmark binary neural networks (Larq + LCE).",
    )
    parser.add_argument("--version", action="version", version=f"tfbin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # AutoGraph's notes about larq internals are not for the command's users;
    # TensorFlow logs through this standard logger, so no import is needed.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        args.run(args)
    except (CommandError, ValueError) as error:
        # ValueError is a library argument check. Library messages name Python
        # parameters; say them in the command's own flags.
        print(f"tfbin {args.command}: error: {translate(str(error), args.parser)}", file=sys.stderr)
        return getattr(error, "status", 2)
    return 0
