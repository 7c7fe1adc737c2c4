"""Plots that tfbin writes next to its reports, as PNG files.

Figures are drawn on a `matplotlib.figure.Figure` with its own Agg canvas,
never through pyplot, so plotting needs no display and leaves the user's
matplotlib backend alone.

```python
import os, tempfile
from tfbin import plots

history = {"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.1, 0.6], "val_accuracy": [0.55, 0.78]}
path = os.path.join(tempfile.mkdtemp(), "curves.png")
plots.plot_training_curves({"bnn": history}, path, shaded_epochs=(0, 1))
```
"""
import io
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfbin.files import write_atomic

__all__ = ["new_figure", "plot_training_curves", "save_figure"]


def new_figure(ncols=1, figsize=(6, 4)):
    """(figure, axes) on an Agg canvas; `axes` is a list when `ncols` > 1."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, list(axes) if ncols > 1 else axes


def save_figure(fig, path):
    """Saves `fig` as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    write_atomic(os.fspath(path), buffer.getvalue())


def plot_training_curves(histories, path, shaded_epochs=None, shade_label="PaBT pruning"):
    """Accuracy and loss per epoch, train (dashed) and test (solid), one colour per model.

    `histories` maps a model name to a Keras `History.history` dict. With
    `shaded_epochs` = (start_epoch, end_epoch), 0-based as `PruneToBinary`
    takes them, that phase of training is shaded and labelled `shade_label`.
    """
    fig, (acc_ax, loss_ax) = new_figure(2, figsize=(11, 4))
    if shaded_epochs is not None:
        start, end = shaded_epochs
        for ax in (acc_ax, loss_ax):
            # Epoch e (1-based on the axis) trains between e - 0.5 and e + 0.5.
            ax.axvspan(start + 0.5, end + 0.5, color="0.9", label=shade_label)
    for i, (name, history) in enumerate(histories.items()):
        colour = f"C{i}"
        epochs = range(1, len(history["loss"]) + 1)
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            ax.plot(epochs, history[key], "--", color=colour, alpha=0.6)
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], "-", color=colour, label=name)
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy (solid: test, dashed: train)")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (solid: test, dashed: train)")
    acc_ax.legend()
    save_figure(fig, path)
