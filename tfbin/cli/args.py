"""What the `tfbin` commands share: argument types, dataset options, model loading, errors.

Nothing here imports TensorFlow at import time, so that help and argument
errors answer at once.
"""
import argparse
import os
import re
import sys
import tempfile

__all__ = [
    "CommandError",
    "add_dataset_arguments",
    "add_unsafe_load_argument",
    "checked",
    "fail",
    "fraction",
    "load_model_or_exit",
    "non_negative_int",
    "number",
    "port",
    "positive_float",
    "positive_int",
    "translate",
    "verbosity",
    "writable_dir",
    "writable_file",
]


class CommandError(Exception):
    """Ends a command with `status` after printing `message` (see `fail`)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def fail(message, status=2):
    """Stops the command: prints "tfbin COMMAND: error: MESSAGE" and exits with `status`.

    2 is for bad arguments and unreadable inputs, 1 for work that could not be done.
    """
    raise CommandError(message, status)


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
non_negative_int = number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = number(float, lambda v: v > 0, "a positive number")
fraction = number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
port = number(int, lambda v: 1 <= v <= 65535, "a TCP port (1-65535)")


def checked(check):
    """An argparse type from a library check that raises ValueError."""

    def parse(text):
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def writable_dir(text):
    """An output directory that exists or can be made, and can be written to."""
    try:
        os.makedirs(text, exist_ok=True)
        with tempfile.TemporaryFile(dir=text):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {error.strerror or error}")
    return text


def writable_file(text):
    """An output file whose directory exists and can be written to (the file itself is written later)."""
    directory = os.path.dirname(os.path.abspath(text))
    if not text or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file name")
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {directory!r} is not a writable directory")
    return text


def add_dataset_arguments(parser, default="digits"):
    """--dataset, --data-dir and --manual-dir, as `tfbin.data.load_dataset` takes them."""
    from tfbin.choices import DATASETS

    parser.add_argument("--dataset", choices=DATASETS, default=default,
                        help=f"{default} (bundled, default) or a TFDS dataset prepared in --data-dir")
    parser.add_argument("--data-dir", help="TFDS data dir holding the prepared dataset")
    parser.add_argument("--manual-dir",
                        help="folder with the ImageNet archives, to prepare imagenet2012 into --data-dir offline")


def add_unsafe_load_argument(parser):
    """--unsafe-load: the opt-in to load model files that run Python code stored in them."""
    parser.add_argument("--unsafe-load", action="store_true",
                        help="load the model even if loading runs Python code stored in it (Lambda layers "
                        "holding bytecode); only for files whose author you trust")


def load_model_or_exit(path, unsafe_load=False):
    """Loads a .keras, .h5 or SavedModel path, or fails with status 2 saying why not.

    The file is read before TensorFlow loads (`tfbin.loading`): a missing,
    damaged or wrong-kind file answers at once, and a model that would run
    Python code stored in it is refused unless `unsafe_load` (--unsafe-load).
    """
    from tfbin.loading import ModelFileError, UnsafeModelError, load_model

    try:
        return load_model(path, safe_mode=not unsafe_load)
    except UnsafeModelError as error:
        fail(f"{error.reason}. Pass --unsafe-load to load it anyway, only if you trust its author")
    except ModelFileError as error:
        fail(str(error))


def translate(message, parser):
    """`message` with the library's parameter names replaced by `parser`'s flags.

    Library errors name Python parameters ("pass data_dir=DIR",
    "max_trials must be ..."); on the command line the user knows them as
    `--data-dir DIR` and `--max-trials`. A name is translated when it has an
    underscore or is followed by "=", and the parser has the flag.
    """
    flags = set(re.findall(r"--[\w-]+", parser.format_usage()))

    def flag(match):
        name, assigned = match.group(1), match.group(2)
        option = "--" + name.replace("_", "-")
        if option not in flags or not (assigned or "_" in name):
            return match.group(0)
        # A switch is given by its flag alone: allow_float_fallback=True is --allow-float-fallback.
        return option if assigned in (None, "=True") else f"{option} "

    return re.sub(r"(?<![\w./'\"-])([a-z][a-z0-9_]*)(?![\w(])(=True\b|=)?", flag, message)


def verbosity(args):
    """Keras's `verbose` for a command that trains: 0 with --quiet, the progress bar on a terminal, and
    otherwise one line per epoch (a log or CI output would keep every redraw of a bar)."""
    if args.quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2
