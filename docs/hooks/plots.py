"""MkDocs hook: the guides' plots, drawn at build time from the saved benchmark results.

The PaBT guide shows two figures made from the JSON records that the
benchmark scripts save next to their tables in `benchmarks/results/`:

- `assets/plots/pabt_pruning.png`: validation accuracy per epoch during and
  after pruning, from `select/smoothness.json` (`benchmarks/pabt_smoothness.py`);
- `assets/plots/pabt_accuracy.png`: test accuracy of the 1-bit networks, PaBT
  and the unpruned 3/3 network, from `pabt_digits_test_w*.json`
  (`benchmarks/pabt_digits.py`).

They are drawn with tfbin's own plotting code (`tfbin.plots`) and handed to
MkDocs as generated files, so nothing is written into `docs/` and the site
always shows what the committed results hold. A missing or malformed results
file fails the build.
"""
import json
import os
import re
import statistics
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

# select/smoothness.json: the variants plotted, in this order, with their labels.
CURVES = {
    "polynomial": "PaBT 3/3 -> 1/1, polynomial schedule (default)",
    "linear": "PaBT 3/3 -> 1/1, linear schedule",
    "unpruned_1x1": "1/1 trained directly",
    "unpruned_3x3": "3/3 unpruned (9x the bit-OPs)",
}
# pabt_digits_test_w*.json: the rows plotted, in this order, with their labels.
ROWS = {
    "bnn_1x1": "1/1 trained directly",
    "pabt_old": "PaBT, former settings",
    "pabt:phase_0.1_0.4": "PaBT, linear, 10-40% of the run",
    "pabt_new": "PaBT, defaults (polynomial)",
    "mbn_3x3": "3/3 unpruned (9x the bit-OPs)",
}


def _read_json(name):
    return json.loads((RESULTS / name).read_text())


def _pruning_phase():
    """The pruning phase of the smoothness runs, (first, last) 0-based epoch, as their table states it."""
    header = (RESULTS / "select" / "smoothness.md").read_text()
    found = re.search(r"pruning from epoch (\d+) to (\d+)", header)
    if not found:
        raise ValueError("benchmarks/results/select/smoothness.md no longer states its pruning phase")
    return int(found.group(1)), int(found.group(2))


def _mean(values):
    return [statistics.fmean(column) for column in zip(*values)]


def pruning_curves(plots):
    """Validation accuracy per epoch over seeds: PaBT's schedules against unpruned networks."""
    records = [
        r for r in _read_json("select/smoothness.json")
        # The first run of the table: 12 epochs, all threads, seeds 0-5 for every variant.
        if r["epochs"] == 12 and "--threads" not in r["command"] and r["variant"] in CURVES
    ]
    start, end = _pruning_phase()
    fig, ax = plots.new_figure(figsize=(8, 4.5))
    # Epoch e (1-based on the axis) trains between e - 0.5 and e + 0.5, as in tfbin.plots.
    ax.axvspan(start + 0.5, end + 0.5, color="0.9", label="pruning 3/3 -> 1/1")
    for i, (variant, label) in enumerate(CURVES.items()):
        curves = [r["curve"] for r in records if r["variant"] == variant]
        if not curves:
            raise ValueError(f"select/smoothness.json has no 12-epoch runs of {variant!r}")
        epochs = range(1, len(curves[0]) + 1)
        for curve in curves:
            ax.plot(epochs, curve, color=f"C{i}", alpha=0.2, linewidth=0.8)
        ax.plot(epochs, _mean(curves), color=f"C{i}", linewidth=2, label=f"{label}, mean of {len(curves)} seeds")
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0.8, 1.0),
           title="digits, width 32: validation accuracy per epoch (thin: single seeds)")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def accuracy_bars(plots):
    """Test accuracy, mean and standard deviation over seeds, per row, at widths 8 and 16."""
    fig, axes = plots.new_figure(2, figsize=(11, 3.6))
    for ax, width in zip(axes, (8, 16)):
        records = _read_json(f"pabt_digits_test_w{width}.json") + _read_json(f"pabt_digits_test_w{width}_polynomial.json")
        means, errors, seeds = [], [], set()
        for row in ROWS:
            accuracies = [r["accuracy"] for r in records if r["row"] == row]
            if not accuracies:
                raise ValueError(f"pabt_digits_test_w{width}*.json has no row {row!r}")
            means.append(statistics.fmean(accuracies))
            errors.append(statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0)
            seeds.add(len(accuracies))
        # The first row at the top.
        positions = [len(ROWS) - 1 - i for i in range(len(ROWS))]
        # Points, not bars: the axis does not start at 0.
        for y, mean, error, colour in zip(positions, means, errors, ["C2", "C1", "C1", "C0", "C3"]):
            ax.errorbar(mean, y, xerr=error, fmt="o", capsize=3, color=colour)
        ax.grid(axis="x", color="0.9")
        for y, mean, error in zip(positions, means, errors):
            ax.annotate(f"{mean:.3f}", (mean + error, y), textcoords="offset points", xytext=(5, 0), va="center",
                        fontsize="small")
        ax.set_yticks(positions, list(ROWS.values()) if width == 8 else [""] * len(ROWS))
        low = min(m - e for m, e in zip(means, errors)) - 0.02
        seeds = "/".join(str(n) for n in sorted(seeds))
        ax.set(xlim=(max(0.0, low), 1.0), ylim=(-0.6, len(ROWS) - 0.4), xlabel="test accuracy (mean, std over seeds)",
               title=f"digits, width {width}, 10 epochs, {seeds} seeds")
    return fig


PLOTS = {
    "assets/plots/pabt_pruning.png": pruning_curves,
    "assets/plots/pabt_accuracy.png": accuracy_bars,
}


def _png(draw, plots):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "plot.png")
        plots.save_figure(draw(plots), path)
        return Path(path).read_bytes()


def on_files(files, config, **kwargs):
    # TensorFlow loads with tfbin; keep its start-up chatter out of the build's output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tfbin import plots

    for uri, draw in PLOTS.items():
        files.append(File.generated(config, uri, content=_png(draw, plots)))
    return files


def on_serve(server, config, builder, **kwargs):
    # `mkdocs serve` redraws when a results file changes.
    server.watch(str(RESULTS))
    return server
