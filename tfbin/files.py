"""Writing files so that a reader never sees half of one.

Every file tfbin writes (reports, plots, flatbuffers, search results) goes
through `write_atomic`: the bytes go to a temporary file in the same folder,
which then replaces the target in one step. An interrupted run leaves the old
file or none, never a truncated one.

```python
import tempfile, os
from tfbin.files import write_atomic, write_json

folder = tempfile.mkdtemp()
write_atomic(os.path.join(folder, "model.bin"), b"\\x00\\x01")
write_json(os.path.join(folder, "report.json"), {"accuracy": 0.98})
```
"""
import json
import os
import tempfile

__all__ = ["write_atomic", "write_json", "write_text"]


def write_atomic(path, data):
    """Writes the bytes `data` to `path` through a temporary file in the same folder."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfbin-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp makes the file owner-only; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """`write_atomic` for a str, encoded as UTF-8."""
    write_atomic(path, text.encode("utf-8"))


def write_json(path, value):
    """`value` as indented JSON (with a final newline), written atomically."""
    write_text(path, json.dumps(value, indent=2) + "\n")
