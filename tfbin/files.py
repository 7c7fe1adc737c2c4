"""Writing files so that a reader never sees half of one.

Every file tfbin writes (reports, plots, flatbuffers, models, search results)
goes through `write_atomic` or `atomic_path`: the bytes go to a temporary file
in the same folder, which then replaces the target in one step. An
interrupted run leaves the old file or none, never a truncated one. Files
that only make sense together (an OpenVINO .xml and its .bin, a model and its
baselines) go through `write_atomic_files`: they are all written before any
of them replaces its target, so a full disk changes none of them.

```python
import tempfile, os
from tfbin.files import atomic_path, write_atomic, write_atomic_files, write_json

folder = tempfile.mkdtemp()
write_atomic(os.path.join(folder, "model.bin"), b"\\x00\\x01")
write_json(os.path.join(folder, "report.json"), {"accuracy": 0.98})
write_atomic_files({os.path.join(folder, "ir.bin"): b"\\x00", os.path.join(folder, "ir.xml"): b"<net/>"})
with atomic_path(os.path.join(folder, "notes.txt")) as partial:  # for writers that want a path
    with open(partial, "w") as f:
        f.write("done\\n")
```
"""
import contextlib
import json
import os
import tempfile

__all__ = ["atomic_path", "write_atomic", "write_atomic_files", "write_json", "write_text"]


def _temporary_beside(path, keep_extension=False):
    """A new empty file in `path`'s folder, named `.tfbin-*.part` (plus `path`'s extension if asked)."""
    directory = os.path.dirname(os.path.abspath(path))
    suffix = ".part" + (os.path.splitext(path)[1] if keep_extension else "")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfbin-", suffix=suffix)
    os.close(fd)
    # mkstemp makes the file owner-only; give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def _remove_quietly(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` that replaces `path` when the block ends without error.

    For writers that take a file name (`model.save`, ...); the temporary name
    ends with `path`'s extension, which some of them check. On an error the
    temporary file is removed and `path` is left as it was.
    """
    tmp = _temporary_beside(path, keep_extension=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_atomic(path, data):
    """Writes the bytes `data` to `path` through a temporary file in the same folder."""
    write_atomic_files({path: data})


def write_atomic_files(contents):
    """Writes `{path: bytes}` so that either every file is replaced or none is.

    All temporary files are written first (this is where a full disk or a
    vanished folder fails, and then no target has changed); only then do they
    replace their targets, in the order given.
    """
    written = {}
    try:
        for path, data in contents.items():
            written[path] = _temporary_beside(path)
            with open(written[path], "wb") as f:
                f.write(data)
        for path, tmp in written.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in written.values():
            _remove_quietly(tmp)
        raise


def write_text(path, text):
    """`write_atomic` for a str, encoded as UTF-8."""
    write_atomic(path, text.encode("utf-8"))


def write_json(path, value):
    """`value` as indented JSON (with a final newline), written atomically."""
    write_text(path, json.dumps(value, indent=2) + "\n")
