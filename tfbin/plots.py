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


def plot_training_curves(histories, path, pruning_epochs=None):
    """Accuracy and loss per epoch, train (dashed) and test (solid), one colour per model.

    `histories` maps a model name to a Keras `History.history` dict. With
    `pruning_epochs` = (start_epoch, end_epoch), 0-based as `PruneToBinary`
    takes them, the pruning phase is shaded.
    """
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    if pruning_epochs is not None:
        start, end = pruning_epochs
        for ax in (acc_ax, loss_ax):
            # Epoch e (1-based on the axis) trains between e - 0.5 and e + 0.5.
            ax.axvspan(start + 0.5, end + 0.5, color="0.9", label="PaBT pruning")
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
