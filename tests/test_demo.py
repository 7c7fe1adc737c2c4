"""`tfbin.demo.run_demo`: the rows of a demo are compared on equal terms."""
import numpy as np

import tfbin.demo
from tfbin.demo import pabt


def test_every_row_sees_the_same_batches_whichever_rows_train_before_it(monkeypatch):
    first_batches = {}
    train_row = pabt.train_row

    def recording_train_row(name, dataset, epochs, width, verbose):
        first_batches[name] = next(iter(dataset.train))[1].numpy()
        return train_row(name, dataset, epochs, width, verbose)

    monkeypatch.setattr(pabt, "train_row", recording_train_row)
    tfbin.demo.run_demo(method="pabt", epochs=1, width=4, rows=("larq_quantconv", "bnn"), verbose=0)
    # One pipeline shared by the rows would have reshuffled on through the first row's epoch.
    np.testing.assert_array_equal(first_batches["bnn"], first_batches["larq_quantconv"])
