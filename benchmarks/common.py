"""What the benchmark scripts share: printing and saving their Markdown tables, and their `--quick` runs."""
import os
import re

from tfbin.files import write_atomic, write_json, write_text

# A `--quick` run's digits split: enough images for two training steps of 64 and a test batch.
QUICK_TRAIN, QUICK_TEST = 128, 64
QUICK_DIGITS = f"{QUICK_TRAIN} training and {QUICK_TEST} test digits"


# The CPU flags that decide which OpenVINO kernels run (binary convolutions, bf16): named in every x86 table.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vpopcntdq", "avx512_bf16")


def cpu_flags(flags=CPU_FLAGS):
    """"avx2 yes, avx512f no, ...": which of `flags` this CPU has (from /proc/cpuinfo)."""
    with open("/proc/cpuinfo") as f:
        found = set(re.search(r"^flags\s*:(.*)$", f.read(), re.MULTILINE).group(1).split())
    return ", ".join(f"{flag} {'yes' if flag in found else 'no'}" for flag in flags)


def benchmark_app_command(tool, path, shape, precision, batch=1, threads=1):
    """The benchmark_app command (`tool`) that times `path` as `tfbin bench` does, without -t or -niter.

    `threads` threads, one stream, sync requests, batches of `batch` samples of `shape`, float layers in `precision`.
    """
    dims = ",".join(str(d) for d in (batch, *shape))
    return [tool, "-m", path, "-d", "CPU", "-nthreads", str(threads), "-nstreams", "1", "-hint", "none",
            "-api", "sync", "-b", str(batch), "-shape", f"[{dims}]", "-infer_precision", precision]


def benchmark_app_ms(output, statistic):
    """A latency `statistic` ("Median", "Min", ...) in ms from OpenVINO benchmark_app's printed report."""
    # benchmark_app switches to microseconds for latencies under a millisecond.
    value, unit = re.search(rf"{statistic}:\s+([\d.]+) (ms|us)", output).groups()
    return float(value) / (1000 if unit == "us" else 1)


def print_and_save(table, path):
    """Prints `table` and writes it to `path` atomically, making the folder if needed."""
    print("\n" + table)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, table.encode())
    print(f"wrote {path}")


def save_progress(records, total, runs, out, partial_table):
    """Writes `records` (every run so far) as JSON to `runs` and, until all `total` runs are in, the
    table so far (`partial_table()`, labelled PARTIAL) to `out`, so that a run cut short keeps what it measured."""
    write_json(runs, records)
    if len(records) < total:
        write_text(out, f"PARTIAL: {len(records)} of {total} runs\n\n{partial_table()}")


def add_quick_flag(parser, shrinks, trains=True):
    """Adds `--quick`: a smoke run of the same command with what `shrinks` says made tiny."""
    eagerly = "; training runs TensorFlow functions eagerly (tracing costs more than such short runs)"
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run, not a measurement: {shrinks}{eagerly if trains else ''}")


def start_quick(args):
    """Runs TensorFlow functions eagerly when `args.quick`: tiny runs spend most of their time tracing."""
    if args.quick:
        import tensorflow as tf

        tf.config.run_functions_eagerly(True)


def quick_digits(arrays):
    """The first QUICK_TRAIN training and QUICK_TEST test images of a digits split (already shuffled)."""
    from tfbin import data

    return data.Arrays(arrays.x_train[:QUICK_TRAIN], arrays.y_train[:QUICK_TRAIN], arrays.x_test[:QUICK_TEST],
                       arrays.y_test[:QUICK_TEST], num_classes=arrays.num_classes)


def digits_splits(image_size, split, quick=False):
    """(fit, test) digits `Arrays` at `image_size`: with split "validation", fit trains on three quarters of
    the training split and validates on the held-out, stratified quarter; with "test", both are the plain split."""
    from sklearn.model_selection import train_test_split

    from tfbin import data

    arrays = data.digits_arrays(image_size=image_size)
    if quick:
        arrays = quick_digits(arrays)
    if split == "test":
        return arrays, arrays
    x_fit, x_val, y_fit, y_val = train_test_split(arrays.x_train, arrays.y_train, test_size=0.25,
                                                  random_state=0, stratify=arrays.y_train)
    return data.Arrays(x_fit, y_fit, x_val, y_val, num_classes=arrays.num_classes), arrays


def prune_options(settings):
    """`PruneToBinary` keyword arguments from a benchmark's flat, JSON-recordable settings.

    `fade_steps`, `importance_window`, `order` and `budget` become the callback's `Fading`,
    `TaylorImportance` and `Selection` objects; every other setting passes through.
    """
    from tfbin import pabt

    options = dict(settings)
    fade_steps = options.pop("fade_steps", None)
    window = options.pop("importance_window", None)
    selection = {key: options.pop(key) for key in ("order", "budget") if key in options}
    if fade_steps:
        options["fading"] = pabt.Fading(fade_steps)
    if window:
        options["importance"] = pabt.TaylorImportance(window)
    if selection:
        options["selection"] = pabt.Selection(**selection)
    return options
