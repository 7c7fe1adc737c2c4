"""The documentation site (mkdocs.yml, docs/) and the README: examples run, the API reference is whole, the site builds.

Every ```python block of a page runs as a reader following the page would
run it: the blocks of one page in order, in one new interpreter (nothing
imported yet, so the page itself must `import tfbin` before TensorFlow), in
an empty temporary directory. A block that needs what this machine may not
have (an ARM device, a download) is marked on the line right before its fence

    <!-- docs-test: skip "needs an ARM device over ssh" -->

and is reported as skipped with that reason; the page's other blocks still
run. Pages are found when the tests are collected (docs/**/*.md and
README.md), so a new page is tested without a change here.
"""
import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API_PAGES = DOCS / "reference" / "api"

# A page's blocks together. Pages take well under a minute on a 2-core machine; this stops a hung page
# without failing a slow machine that runs other tests beside it.
_PAGE_TIMEOUT_S = 300
_BUILD_TIMEOUT_S = 300

# The folders setup.py installs as tfbin's packages (its package_dir).
_PACKAGE_DIRS = {"tfbin": "tfbin", "tfbin.zoo": "zoo", "tfbin.convert": "convert"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
_MARKER = re.compile(r'^[ \t]*<!-- docs-test: skip "(?P<reason>[^"]+)" -->[ \t]*$')


class Block(NamedTuple):
    page: str  # path from the repository root
    line: int  # 1-based line of the block's first line of code
    code: str
    skip: str | None  # the marker's reason


def _language(info):
    """The language of a fence's info string: ```python, ``` python title="x.py", ```{.python ...}."""
    words = info.strip().lstrip("{").split()
    return words[0].lstrip(".").lower() if words else ""


def parse_page(text, page):
    """(python blocks, problems) of a Markdown page; a problem is a misplaced or malformed skip marker."""
    blocks, problems = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!-- docs-test"):
            following = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if not _MARKER.match(line):
                problems.append(f'{page}:{i + 1}: write the marker as <!-- docs-test: skip "reason" -->')
            elif not (following and _language(following["info"]) == "python"):
                problems.append(f"{page}:{i + 1}: a skip marker must be on the line right before a ```python fence")
        opening = _FENCE.match(line)
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{fence[0]}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        language = _language(opening["info"])
        if language in ("py", "python3"):
            problems.append(f"{page}:{i + 1}: write ```python, the fence the docs tests run")
        if language == "python":
            body = [code[len(indent):] if code.startswith(indent) else code.lstrip() for code in lines[i + 1:end]]
            marker = _MARKER.match(lines[i - 1]) if i > 0 else None
            blocks.append(Block(page, i + 2, "\n".join(body) + "\n", marker["reason"] if marker else None))
        i = end + 1
    return blocks, problems


def _pages():
    pages = sorted(path for path in DOCS.rglob("*.md") if "hooks" not in path.relative_to(DOCS).parts)
    return [*pages, ROOT / "README.md"]


def _parsed():
    parsed = {}
    for path in _pages():
        page = path.relative_to(ROOT).as_posix()
        parsed[page] = parse_page(path.read_text(encoding="utf-8"), page)
    return parsed


PAGES = _parsed()
PAGES_WITH_EXAMPLES = [page for page, (blocks, _) in PAGES.items() if any(not b.skip for b in blocks)]
SKIPPED = [block for blocks, _ in PAGES.values() for block in blocks if block.skip]


def _run_blocks(blocks_path, results_path):
    """The child interpreter's program: runs the page's blocks in order, in one namespace, as `__main__`.

    Each block is compiled under the page's path with its own line numbers,
    so a traceback points into the page and shows its lines. It imports only
    the standard library, so the page's first block meets a fresh interpreter.
    """
    import json
    import time
    import traceback

    with open(blocks_path) as f:
        path, blocks = json.load(f)
    namespace = {"__name__": "__main__"}
    with open(results_path, "w") as results:
        for line, code in blocks:
            start = time.perf_counter()
            try:
                exec(compile("\n" * (line - 1) + code, path, "exec"), namespace)
                error = None
            except BaseException as exception:
                # The traceback from the page's frames on: this runner's frame says nothing.
                frames = exception.__traceback__
                while frames and frames.tb_frame.f_code.co_filename != path:
                    frames = frames.tb_next
                error = "".join(traceback.format_exception(type(exception), exception, frames))
            results.write(json.dumps({"line": line, "seconds": time.perf_counter() - start, "error": error}) + "\n")
            results.flush()
            if error:
                break


def _environment_of_a_reader():
    # This process imported tfbin, which set TF_USE_LEGACY_KERAS; inherited, it would give the
    # child Keras 2 whatever the page imports first.
    env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    return env


def run_page(path, blocks, tmp_path):
    """Runs `blocks` of the page at `path` in a new interpreter: (one result per block run, how it ended, output)."""
    blocks_path, results_path = tmp_path / "blocks.json", tmp_path / "results.jsonl"
    blocks_path.write_text(json.dumps([str(path), [(b.line, b.code) for b in blocks]]))
    work = tmp_path / "work"
    work.mkdir()
    program = f"{inspect.getsource(_run_blocks)}\n_run_blocks({str(blocks_path)!r}, {str(results_path)!r})\n"
    start = time.perf_counter()
    try:
        child = subprocess.run([sys.executable, "-c", program], cwd=work, env=_environment_of_a_reader(),
                               capture_output=True, text=True, timeout=_PAGE_TIMEOUT_S)
        ending = f"exited with code {child.returncode} after {time.perf_counter() - start:.0f} s"
        output = child.stdout + child.stderr
    except subprocess.TimeoutExpired as timeout:
        ending = f"was stopped after {_PAGE_TIMEOUT_S} s"
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                         for part in (timeout.stdout, timeout.stderr))
    results = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    return results, ending, output


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_page_examples_run(page, tmp_path):
    blocks = [block for block in PAGES[page][0] if not block.skip]
    results, ending, output = run_page(ROOT / page, blocks, tmp_path)
    failed = [result for result in results if result["error"]]
    assert not failed, f"{page}:{failed[0]['line']}: the block failed:\n{failed[0]['error']}"
    assert len(results) == len(blocks), (
        f"{page}: the interpreter running the page {ending}, having run {len(results)} of its {len(blocks)} "
        f"blocks:\n{output[-4000:]}"
    )


def test_a_page_runs_in_a_fresh_interpreter_and_stops_at_its_first_failure(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nimport sys\nx = 'tensorflow' in sys.modules\n```\n\n"
                    "```python\nassert not x\nraise ValueError(f'x is {x}')\n```\n\n```python\nnever = 1\n```\n")
    blocks, _ = parse_page(page.read_text(), "page.md")
    results, _, _ = run_page(page, blocks, tmp_path)
    assert [(result["line"], result["error"] is None) for result in results] == [(2, True), (7, False)]
    # The traceback names the page's line and shows it.
    assert f'File "{page}", line 8' in results[1]["error"] and "raise ValueError" in results[1]["error"]
    assert "ValueError: x is False" in results[1]["error"]


@pytest.mark.parametrize("block", SKIPPED, ids=[f"{b.page}:{b.line}" for b in SKIPPED])
def test_marked_example_is_skipped(block):
    pytest.skip(f"{block.page}:{block.line}: {block.skip}")


def test_skip_markers_are_well_formed():
    problems = [problem for _, page_problems in PAGES.values() for problem in page_problems]
    assert not problems, "\n".join(problems)


def test_the_example_parser():
    page = "\n".join([
        "Text.",
        "```python",
        "import tfbin",
        "```",
        '<!-- docs-test: skip "needs an ARM device over ssh" -->',
        "```python",
        "device()",
        "```",
        "!!! note",
        "    ```python title=\"x.py\"",
        "    if True:",
        "        x = 1",
        "    ```",
        "````markdown",
        "```python",
        "not_run()",
        "```",
        "````",
        "```bash",
        "tfbin --help",
        "```",
        "<!-- docs-test: skip \"nothing follows\" -->",
        "",
    ])
    blocks, problems = parse_page(page, "page.md")
    assert blocks == [
        Block("page.md", 3, "import tfbin\n", None),
        Block("page.md", 7, "device()\n", "needs an ARM device over ssh"),
        Block("page.md", 11, "if True:\n    x = 1\n", None),
    ]
    assert problems == ["page.md:22: a skip marker must be on the line right before a ```python fence"]
    _, problems = parse_page("<!-- docs-test: skip -->\n```python\nx\n```\n```py\nx\n```\n", "page.md")
    assert problems == ['page.md:1: write the marker as <!-- docs-test: skip "reason" -->',
                        "page.md:5: write ```python, the fence the docs tests run"]


def public_modules():
    """Every public module of the installed tfbin, from the source folders that setup.py maps."""
    modules = set()
    for package, folder in _PACKAGE_DIRS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if parts and parts[-1] == "__main__" or any(part.startswith("_") for part in name.split(".")):
                continue
            modules.add(name)
    return modules


def documented_objects():
    """The identifiers of the API reference's `::: identifier` lines, with the page of each."""
    documented = {}
    for path in sorted(API_PAGES.rglob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^::: *([\w.]+)\s*$", line)
            if match:
                documented.setdefault(match[1], path.relative_to(ROOT).as_posix())
    return documented


def test_every_public_module_is_in_the_api_reference():
    modules = public_modules()
    assert {"tfbin.layers", "tfbin.zoo.models", "tfbin.convert.converter", "tfbin.tuning.search"} <= modules
    missing = sorted(modules - set(documented_objects()))
    assert not missing, (
        f"not in the API reference: {missing}. Add a `::: module` line to the page of its package "
        f"under {API_PAGES.relative_to(ROOT)}/ (a new package: a new page there, listed in mkdocs.yml's nav)."
    )


def _subcommands():
    import argparse

    from tfbin.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(commands.choices)


def test_the_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a broken link or anchor, a missing API symbol or a bad docstring fails it."""
    import importlib.util

    assert importlib.util.find_spec("mkdocs"), 'MkDocs is missing: install the docs extra (pip install -e ".[docs]")'
    site = tmp_path / "site"
    start = time.perf_counter()
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    seconds = time.perf_counter() - start
    # Its warnings and errors, without the INFO lines around them.
    problems = [line for line in (build.stdout + build.stderr).splitlines() if not line.startswith("INFO")]
    assert build.returncode == 0, f"mkdocs build --strict failed ({seconds:.0f} s):\n" + "\n".join(problems[-80:])
    # The command-line reference holds every subcommand's help, rendered from the parsers.
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in _subcommands():
        assert f'id="tfbin-{command}"' in cli and f"usage: tfbin {command} " in cli, command
    # The API reference found tfbin.zoo and tfbin.convert (top-level folders of the checkout).
    api = "".join(path.read_text(encoding="utf-8") for path in (site / "reference" / "api").rglob("*.html"))
    for identifier in ("tfbin.zoo.models.resnet20", "tfbin.convert.converter.convert",
                       "tfbin.layers.MultiBaseConv2D", "tfbin.cli.build_parser"):
        assert f'id="{identifier}"' in api, identifier
