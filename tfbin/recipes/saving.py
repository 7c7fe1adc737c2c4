"""A run's files, written so that a kill at any moment loses nothing.

Keras' `ModelCheckpoint` writes the model in place (a kill during the save
leaves a truncated file where the last checkpoint was) and `CSVLogger`
appends (a kill can leave half a row, and a run resumed from its last backup
logs again the epochs it runs again). `EpochCheckpoint` and `EpochLog`
replace their file in one step instead, and `EpochLog` keeps one row per
epoch across resumes. `discard_backup` removes a `BackupAndRestore` folder
without ever leaving half of one, which a resumed run would fail to read.
"""
import csv
import io
import os
import shutil
import tempfile

import tensorflow as tf

from tfbin.files import atomic_path, write_text

__all__ = ["EpochCheckpoint", "EpochLog", "discard_backup", "save_model"]


def save_model(model, path, chief=True):
    """`model.save(path)`, atomically; a worker that is not the chief saves to a scratch folder.

    Saving reads the variables with collective ops, so under a multi-worker
    strategy every worker must save, though only the chief keeps the file.
    """
    if chief:
        with atomic_path(path) as partial:
            model.save(partial)
        return
    with tempfile.TemporaryDirectory() as scratch:
        model.save(os.path.join(scratch, os.path.basename(path)))


class EpochCheckpoint(tf.keras.callbacks.Callback):
    """Saves the model to `path` (a .keras file) after every epoch, replacing the last one in one step."""

    def __init__(self, path, chief=True):
        super().__init__()
        self.path = path
        self.chief = chief

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, self.path, self.chief)


class EpochLog(tf.keras.callbacks.Callback):
    """The logs of every finished epoch in the CSV file `path`, rewritten in one step after each.

    Columns: "epoch", then the logged names in sorted order (as `CSVLogger`
    writes them). A run resumed at epoch k keeps the rows of the epochs
    before k and replaces the later ones: those epochs run again. Place it
    before `BackupAndRestore` in the callback list, so that an epoch is
    logged before the backup counts it as done.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self._rows = None

    def on_train_begin(self, logs=None):
        self._rows = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._rows is None:  # the first epoch of this fit: the resumed one, or 0
            self._rows = [row for row in self._read() if int(row["epoch"]) < epoch]

    def on_epoch_end(self, epoch, logs=None):
        self._rows.append({"epoch": str(epoch), **{name: str(value) for name, value in (logs or {}).items()}})
        columns = ["epoch"] + sorted({name for row in self._rows for name in row} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        write_text(self.path, text.getvalue())

    def _read(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, newline="") as f:
            # A row whose epoch is not a number is a half row that CSVLogger left behind.
            return [row for row in csv.DictReader(f) if (row.get("epoch") or "").isdigit()]


def discard_backup(backup_dir):
    """Removes the folder `backup_dir`: first moved aside in one step, then deleted.

    Deleted in place, a kill could leave a checkpoint index without its data,
    which the next run would try to resume from and fail.
    """
    if not os.path.isdir(backup_dir):
        return
    parent = os.path.dirname(os.path.abspath(backup_dir))
    trash = tempfile.mkdtemp(dir=parent, prefix=".tfbin-discarded-")
    os.replace(backup_dir, os.path.join(trash, os.path.basename(backup_dir)))
    shutil.rmtree(trash)
