"""MkDocs hook: the command-line reference, rendered from the `tfbin` command's own parsers.

`docs/reference/cli.md` holds the line `<!-- tfbin-cli-reference -->`; at build
time this hook replaces it with what `tfbin --help` and `tfbin COMMAND --help`
print, one section per subcommand in the order `tfbin --help` lists them, so
the page cannot drift from the parsers in `tfbin/cli/`. The help is formatted
at a fixed width, whatever the terminal that runs the build.
"""
import argparse
import os
import sys
from contextlib import contextmanager

from mkdocs.exceptions import PluginError

PAGE = "reference/cli.md"
MARKER = "<!-- tfbin-cli-reference -->"
# Columns of the rendered help: wide enough for argparse's two columns, narrow enough for the page.
WIDTH = 100


@contextmanager
def _columns(width):
    """argparse wraps help to $COLUMNS (shutil.get_terminal_size)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _build_parser():
    if "tfbin" not in sys.modules:
        # Declare command mode, as the console script's launcher does, so that importing tfbin
        # loads only the parsers' modules and not TensorFlow (see _tfbin_command's docstring).
        import _tfbin_command

        _tfbin_command.STARTED = True
    from tfbin.cli import build_parser

    return build_parser()


def _subcommands(parser):
    """(name, one-line help, parser) of each subcommand, in the order of `tfbin --help`."""
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if len(actions) != 1:
        raise PluginError(f"cli_reference: expected one set of subcommands in `tfbin`, found {len(actions)}")
    (action,) = actions
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    return [(name, helps.get(name), subparser) for name, subparser in action.choices.items()]


def _block(text):
    # A fence longer than any run of backticks argparse could print.
    return f"````text\n{text.rstrip()}\n````"


def render():
    """The Markdown that replaces the marker."""
    with _columns(WIDTH):
        parser = _build_parser()
        sections = ["## tfbin", _block(parser.format_help())]
        for name, summary, subparser in _subcommands(parser):
            sections.append(f"## tfbin {name}")
            if summary:
                sections.append(summary[0].upper() + summary[1:] + ".")
            sections.append(_block(subparser.format_help()))
    return "\n\n".join(sections) + "\n"


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    if markdown.count(MARKER) != 1:
        raise PluginError(f"cli_reference: {PAGE} must hold the line {MARKER} exactly once")
    return markdown.replace(MARKER, render())
