"""Every ```python example in a tfbin docstring runs as it stands.

Examples that need something this machine may not have (an ARM device over
ssh or adb) start with a `# needs: ...` comment and are skipped, saying what.
"""
import importlib
import inspect
import pkgutil
import re
import textwrap

import pytest

import tfbin

_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _modules():
    import tfbin.convert
    import tfbin.zoo

    # tfbin.zoo and tfbin.convert live in zoo/ and convert/, outside tfbin/'s path.
    for package in (tfbin, tfbin.convert, tfbin.zoo):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith("__main__"):
                yield importlib.import_module(info.name)


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
    for module in _modules():
        for where, doc in _documented(module):
            for i, block in enumerate(_FENCE.findall(doc or "")):
                if (where, i) not in seen:
                    seen.add((where, i))
                    yield pytest.param(textwrap.dedent(block), id=f"{where}[{i}]")


EXAMPLES = list(_examples())


def test_the_main_public_classes_have_examples():
    ids = {param.id.rsplit("[", 1)[0] for param in EXAMPLES}
    for name in ("tfbin.layers.MultiBaseConv2D", "tfbin.callbacks.PruneToBinary", "tfbin.convert.converter.convert",
                 "tfbin.pruning.strip_pruning", "tfbin.stq.MaskedQuantConv2D", "tfbin.callbacks.PruneFilters"):
        assert name in ids, name


@pytest.mark.parametrize("code", EXAMPLES)
def test_docstring_example_runs(code, tmp_path, monkeypatch):
    needs = re.match(r"\s*# needs: (.*)", code)
    if needs:
        pytest.skip(f"needs {needs.group(1)}")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docstring example>", "exec"), {"__name__": "__example__"})
