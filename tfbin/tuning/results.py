"""Results of a search: one row per finished trial, written as CSV, Markdown and a plot."""
import csv
import io
import os

from tfbin import plots
from tfbin.files import write_text

__all__ = ["best_row", "is_metric", "optimizer_code", "trial_rows", "write_results"]


def trial_rows(tuner):
    """One dict per finished trial, in trial order: "trial", the hyperparameters,
    "best_<objective>", "best_epoch" and "epochs" (how far the trial trained)."""
    objective = tuner.oracle.objective.name
    rows = []
    for trial_id in sorted(tuner.oracle.trials, key=int):
        trial = tuner.oracle.trials[trial_id]
        if trial.status != "COMPLETED":
            continue
        # Numbered from 1, as keras_tuner's progress display counts them.
        row = {"trial": int(trial_id) + 1}
        # Hyperband's bookkeeping ("tuner/epochs", ...) is not a hyperparameter.
        row.update({k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")})
        row[f"best_{objective}"] = trial.metrics.get_best_value(objective)
        for name, column in (("epoch", "best_epoch"), ("epochs", "epochs")):
            value = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
            row[column] = None if value is None else int(value)
        rows.append(row)
    return rows


def is_metric(column):
    """A column that reports how a trial did, rather than one of its hyperparameters."""
    return column.startswith("best_") or column == "epochs"


def _columns(rows):
    """"trial", the hyperparameters in order of appearance, then the metrics."""
    columns = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    return [c for c in columns if not is_metric(c)] + [c for c in columns if is_metric(c)]


def best_row(rows, objective, direction="max"):
    """The row with the best `best_<objective>`, or None when no trial reported it."""
    scored = [row for row in rows if row.get(f"best_{objective}") is not None]
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda row: row[f"best_{objective}"])


def _cell(column, value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if is_metric(column) else f"{value:g}"
    return str(value)


def optimizer_code(kwargs, extra=None):
    """Python source that builds the optimizer of `bop_optimizer(**kwargs)`.

    `extra` (other hyperparameters of the trial, such as the model's) are
    listed in a comment.
    """
    lines = ["import tfbin", "from tfbin import optimizers", ""]
    if extra:
        lines.append("# other hyperparameters: " + ", ".join(f"{k}={v!r}" for k, v in extra.items()))
    lines.append("optimizer = optimizers.bop_optimizer(")
    lines.extend(f"    {name}={value!r}," for name, value in kwargs.items())
    lines.append(")")
    return "\n".join(lines) + "\n"


def write_results(out, rows, objective="val_accuracy", direction="max", title="Bop hyperparameter search",
                  notes=(), code=None):
    """Writes `out/results.csv`, `out/results.md` and `out/val_accuracy.png`, each atomically.

    `rows` are `trial_rows`; the best by `objective` (to `direction`, "max" or
    "min") is marked. `notes` are lines put under the title of the Markdown
    report and `code` (the best configuration) at its end.
    """
    columns = _columns(rows) or ["trial", f"best_{objective}", "best_epoch", "epochs"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(os.path.join(out, "results.csv"), text.getvalue())

    best = best_row(rows, objective, direction)
    lines = [f"# {title}", ""] + [f"{note}  " for note in notes]
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for row in rows:
        cells = [_cell(c, row.get(c)) for c in columns]
        if row is best:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if best is not None:
        lines += ["", f"Best (bold): trial {best['trial']}, {objective} {best[f'best_{objective}']:.4f}."]
    if code:
        lines += ["", "```python", code.rstrip("\n"), "```"]
    write_text(os.path.join(out, "results.md"), "\n".join(lines) + "\n")
    _plot(rows, objective, best, title, os.path.join(out, "val_accuracy.png"))


def _plot(rows, objective, best, title, path):
    fig, ax = plots.new_figure(figsize=(max(5, 0.45 * len(rows) + 2), 3.5))
    trials = [str(row["trial"]) for row in rows]
    values = [row[f"best_{objective}"] for row in rows]
    colours = ["C1" if row is best else "C0" for row in rows]
    ax.bar(trials, values, color=colours)
    ax.set(xlabel="trial", ylabel=f"best {objective}", title=title)
    if objective.endswith("accuracy"):
        ax.set_ylim(0, 1)
    plots.save_figure(fig, path)
