"""Plots that tfbin commands write next to their reports (PNG, no display needed)."""
import io
import os

import matplotlib

matplotlib.use("Agg")  # headless: commands run on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

from tfbin.convert.converter import write_atomic  # noqa: E402

__all__ = ["plot_training_curves", "save_figure"]


def save_figure(fig, path):
    """Saves `fig` as PNG atomically and closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_atomic(os.fspath(path), buffer.getvalue())


def plot_training_curves(histories, path):
    """Accuracy and loss per epoch, train (dashed) and test (solid), one colour per model.

    `histories` maps a model name to a Keras `History.history` dict.
    """
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
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
