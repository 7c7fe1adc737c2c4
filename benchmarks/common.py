"""What the benchmark scripts share: printing and saving their Markdown tables."""
import os

from tfbin.files import write_atomic


def print_and_save(table, path):
    """Prints `table` and writes it to `path` atomically, making the folder if needed."""
    print("\n" + table)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, table.encode())
    print(f"wrote {path}")
