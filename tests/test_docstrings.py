"""Every ```python example in a tfbin docstring runs as it stands, copied into a fresh interpreter.

An example copied into a new program meets an interpreter where nothing is
imported yet: TensorFlow picks Keras 3 or Keras 2 when it is first imported,
so an example that imports TensorFlow (or Larq) before tfbin fails there while
it passes in this test process, which imported tfbin long before. Each example
therefore runs in a child interpreter started from nothing, in a new empty
directory, as the `__main__` of its own.

A new interpreter costs seconds of imports and first-use set-up, too many to
pay once per example or once per module, so the examples of each part of
tfbin (tfbin, tfbin.convert, tfbin.zoo) share one child interpreter, one after
another, each with a namespace and a directory of its own. Only the first
example of a part meets the interpreter fresh; a static check of every
example's import order covers the others.

Examples that need something this machine may not have (an ARM device over
ssh or adb) start with a `# needs: ...` comment and are skipped, saying what.
"""
import ast
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
from typing import NamedTuple

import pytest

import tfbin

_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
_NEEDS = re.compile(r"\s*# needs: (.*)")

# Importing any of these imports TensorFlow, which then fixes its Keras version.
_IMPORT_TENSORFLOW = {
    "keras", "keras_tuner", "larq", "larq_compute_engine", "tensorflow", "tensorflow_datasets", "tf_keras",
}

# A child runs all the examples of a part; tfbin's take minutes.
_PART_TIMEOUT_S = 900


class Example(NamedTuple):
    where: str  # the documented module, class, function or method, with the example's index
    part: str  # tfbin, tfbin.convert or tfbin.zoo: its examples share an interpreter
    code: str


def _modules():
    import tfbin.convert
    import tfbin.zoo

    # tfbin.zoo and tfbin.convert live in zoo/ and convert/, outside tfbin/'s path.
    for part in (tfbin, tfbin.convert, tfbin.zoo):
        yield part.__name__, part
        for info in pkgutil.walk_packages(part.__path__, f"{part.__name__}."):
            if not info.name.endswith("__main__"):
                yield part.__name__, importlib.import_module(info.name)


def _documented(module):
    """(name, docstring) of the module and of what it defines: classes, functions, methods."""
    yield module.__name__, module.__doc__
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__ or name.startswith("_"):
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj.__doc__
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and not attr.startswith("_"):
                    yield f"{module.__name__}.{name}.{attr}", member.__doc__


def _examples():
    seen = set()
    for part, module in _modules():
        for where, doc in _documented(module):
            for i, block in enumerate(_FENCE.findall(doc or "")):
                if (where, i) not in seen:
                    seen.add((where, i))
                    example = Example(f"{where}[{i}]", part, textwrap.dedent(block))
                    yield pytest.param(example, id=example.where)


EXAMPLES = list(_examples())


def test_the_main_public_classes_have_examples():
    ids = {param.id.rsplit("[", 1)[0] for param in EXAMPLES}
    for name in ("tfbin.layers.MultiBaseConv2D", "tfbin.pabt.PruneToBinary", "tfbin.convert.converter.convert",
                 "tfbin.pruning.strip_pruning", "tfbin.stq.MaskedQuantConv2D", "tfbin.callbacks.PruneFilters"):
        assert name in ids, name


def _imported_modules(code):
    """The top-level names of the modules an example imports, in the order its import statements appear."""
    imports = [node for node in ast.walk(ast.parse(code)) if isinstance(node, (ast.Import, ast.ImportFrom))]
    for node in sorted(imports, key=lambda node: (node.lineno, node.col_offset)):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif node.level == 0:  # a relative import names no installed module
            yield node.module.partition(".")[0]


@pytest.mark.parametrize("example", EXAMPLES)
def test_docstring_example_imports_tfbin_before_tensorflow(example):
    # Any tfbin import runs tfbin/__init__.py, which selects Keras 2 for TensorFlow.
    modules = list(_imported_modules(example.code))
    first_tensorflow = next((i for i, name in enumerate(modules) if name in _IMPORT_TENSORFLOW), None)
    if first_tensorflow is not None:
        assert "tfbin" in modules[:first_tensorflow], (
            f"{example.where} imports {modules[first_tensorflow]} before tfbin; copied into a new program, "
            f"tf.keras would be Keras 3 there. Imports in order: {modules}"
        )


def _run_examples(scripts_dir, work_dir, results_path):
    """Runs every script of scripts_dir in order, each as `__main__` in a new empty directory under work_dir.

    This is the child interpreter's whole program: it imports nothing beyond
    the standard library, so the first example meets a fresh interpreter. One
    JSON line per finished example goes to results_path at once, so that a
    crash still tells which example was running.
    """
    import json
    import os
    import pathlib
    import runpy
    import tempfile
    import traceback

    with open(results_path, "w") as results:
        for script in sorted(pathlib.Path(scripts_dir).glob("*.py")):
            os.chdir(tempfile.mkdtemp(prefix=script.stem, dir=work_dir))
            try:
                runpy.run_path(str(script), run_name="__main__")
                error = None
            except Exception as exception:
                # The traceback starts at the example: the frames of this runner and of runpy say nothing.
                frames = exception.__traceback__
                while frames and frames.tb_frame.f_code.co_filename != str(script):
                    frames = frames.tb_next
                error = "".join(traceback.format_exception(type(exception), exception, frames))
            results.write(json.dumps({"script": script.name, "error": error}) + "\n")
            results.flush()


def _environment_of_a_new_program():
    # This process imported tfbin, which set TF_USE_LEGACY_KERAS; inherited,
    # it would give a child Keras 2 whatever its examples import first.
    return {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}


def _run_child(program, cwd):
    """How the child interpreter ended, and the end of what it wrote to stderr."""
    try:
        child = subprocess.run([sys.executable, "-c", program], cwd=cwd, env=_environment_of_a_new_program(),
                               capture_output=True, timeout=_PART_TIMEOUT_S)
        ending, stderr = f"exited with code {child.returncode}", child.stderr
    except subprocess.TimeoutExpired as timeout:
        ending, stderr = f"was stopped after {_PART_TIMEOUT_S} s", timeout.stderr or b""
    return ending, stderr[-4000:].decode(errors="replace")


def _run_in_one_child(examples, root):
    """{example: its traceback, or None if it ran}, for the examples that finished; how the child ended; its stderr."""
    scripts_dir, work_dir = root / "scripts", root / "work"
    scripts_dir.mkdir()
    work_dir.mkdir()
    scripts = {}
    for n, example in enumerate(examples):
        script = scripts_dir / f"{n:03d}_{re.sub(r'[^A-Za-z0-9]+', '_', example.where)}.py"
        script.write_text(example.code)
        scripts[script.name] = example.where
    results_path = root / "results.jsonl"
    arguments = [str(scripts_dir), str(work_dir), str(results_path)]
    ending, stderr = _run_child(f"{inspect.getsource(_run_examples)}\n_run_examples(*{arguments})\n", work_dir)
    results = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
    return {scripts[result["script"]]: result["error"] for result in results}, ending, stderr


@pytest.fixture(scope="module")
def part_runs(request, tmp_path_factory):
    """Runs a part's selected examples on the first request, then gives the same outcome to each of them.

    Only the selected ones run, so that `-k` picks examples to run alone, the
    first of them in a fresh interpreter.
    """
    selected = [item.callspec.params["example"] for item in request.session.items
                if item.originalname == "test_docstring_example_runs"]
    runs = {}

    def run(part):
        if part not in runs:
            runnable = [example for example in selected if example.part == part and not _NEEDS.match(example.code)]
            runs[part] = _run_in_one_child(runnable, tmp_path_factory.mktemp(part))
        return runs[part]

    return run


@pytest.mark.parametrize("example", EXAMPLES)
def test_docstring_example_runs(example, part_runs):
    needs = _NEEDS.match(example.code)
    if needs:
        pytest.skip(f"needs {needs.group(1)}")
    errors, ending, stderr = part_runs(example.part)
    if example.where not in errors:
        pytest.fail(f"the interpreter running {example.part}'s examples {ending} before {example.where} "
                    f"finished; its stderr ended with:\n{stderr}", pytrace=False)
    if errors[example.where] is not None:
        pytest.fail(f"{example.where} failed{_after_failures(errors, example.where)}:\n{errors[example.where]}",
                    pytrace=False)


def _after_failures(errors, where):
    """Names the examples that failed earlier in the same interpreter: a failure can leave it broken."""
    earlier = list(errors)[:list(errors).index(where)]
    failed = [name for name in earlier if errors[name] is not None]
    return f" (after {', '.join(failed)} failed in the same interpreter)" if failed else ""
