import os
import re

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfbin  # noqa: E402,F401  (routes tf.keras to Keras 2 before any test imports TensorFlow)

# The docstring examples of one part of tfbin run together in one child interpreter, started by the first of
# them that a worker runs (tests/test_docstrings.py): spread over two workers, each would start that child.
_DOCSTRING_PART = re.compile(
    r"test_docstrings\.py::test_docstring_example_runs\[(tfbin\.convert|tfbin\.zoo|tfbin)[.\[]"
)
# Test modules whose tests share a module fixture that takes many seconds to build (model files of every
# kind): each worker that ran some of their tests would build it again.
_SHARED_FIXTURE_MODULES = ("test_bad_files.py", "test_safe_loading.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`-n N`'s scheduling, test by test, except that tests sharing a costly set-up go to one worker, and first.

    Those are a part's docstring examples and the tests of a module in
    `_SHARED_FIXTURE_MODULES`. xdist's `--dist loadgroup` would do it with
    marks, but does not group under pytest 9.2 (pytest-xdist#1386). Units of
    several tests go out before single tests, largest first: the long child
    interpreters start at once rather than last.
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            part = _DOCSTRING_PART.search(nodeid)
            if part:
                return f"docstring examples of {part.group(1)}"
            module = nodeid.split("::", 1)[0]
            return module if module.endswith(_SHARED_FIXTURE_MODULES) else nodeid

    return SharedSetupScheduling(config, log)
