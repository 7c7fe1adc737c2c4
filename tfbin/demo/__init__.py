"""End-to-end demos: train a method's rows, convert each with LCE, check parity, time them.

One module per method (`tfbin.demo.pabt`, ...), each with `ROWS` (the models
it compares), `train_row(name, dataset, epochs, width, verbose)` returning
the trained model and its Keras history, and optionally `phases(epochs)` (a
training phase to shade in the plot) and `row_extras(name, model, history)`
(more report keys, from the trained model and its history dict), and optionally
`INT8_ROWS` (rows that convert another row's trained model with its float
layers in int8, `{row: trained row}`: no training of their own). `run_demo`
runs them all the same way, measures each row here (the method modules never
convert or time anything themselves) and writes `report.json` and
`training_curves.png`.

```python
import tempfile
import tfbin
report = tfbin.demo.run_demo(epochs=1, width=8, rows=("bnn",), out=tempfile.mkdtemp(), verbose=0)
report["models"][0]["argmax_agreement"]
```
"""
import importlib
import os

import numpy as np
import tensorflow as tf

from tfbin import cost, data, plots
from tfbin.choices import METHODS
from tfbin.convert import convert, time_tflite
from tfbin.files import write_json
from tfbin.validation import check_int, check_one_of

__all__ = ["calibration_batch", "format_table", "measure", "method_module", "run_demo"]

CALIBRATION_SAMPLES = 1000


def calibration_batch(test, limit=CALIBRATION_SAMPLES):
    """Up to `limit` images of a batched (image, label) test pipeline, as one array."""
    images, count = [], 0
    for batch, _ in test:
        images.append(batch.numpy())
        count += len(images[-1])
        if count >= limit:
            break
    return np.concatenate(images)[:limit]


def _converted_accuracy(tflite, test):
    """Test accuracy of a flatbuffer, run by the LCE interpreter over a batched (image, label) pipeline."""
    from tfbin.convert import lce_predict

    hits = total = 0
    for images, labels in test:
        predicted = np.asarray(lce_predict(tflite, images.numpy())).reshape(len(labels), -1).argmax(1)
        hits += int(np.sum(predicted == np.asarray(labels).reshape(-1)))
        total += len(predicted)
    return hits / total


def _convert_int8(name, model, x):
    """(conversion, None) with int8 float layers, or (conversion judged without a floor, why it was refused)."""
    from tfbin.convert import ParityError

    try:
        return convert(model, calibration_data=x, float_layers="int8"), None
    except ParityError as error:
        # A short run leaves activations near their sign thresholds, and int8 rounding flips them:
        # the row still reports what the converter refused, and why.
        return convert(model, calibration_data=x, float_layers="int8", min_agreement=1e-9), str(error)


def measure(name, model, dataset, float_layers="float"):
    """The report row of a trained model: test accuracy (moving statistics), cost, LCE size, parity, latency.

    With `float_layers="int8"` the model's float layers are converted to int8
    (`tfbin.convert.int8`) and the accuracy is the flatbuffer's own, run by
    LCE's interpreter; the row adds `int8_layers`, `p90_rel_error` and, when
    the converter refuses the agreement, `int8_refused` (the reason).
    """
    calibration = calibration_batch(dataset.test)
    refused = None
    if float_layers == "int8":
        conversion, refused = _convert_int8(name, model, calibration)
        accuracy = _converted_accuracy(conversion.tflite, dataset.test)
    else:
        _, accuracy = model.evaluate(dataset.test, verbose=0)
        conversion = convert(model, calibration_data=calibration)
    model_cost = cost.model_cost(model)
    row = {
        "name": name,
        "accuracy": float(accuracy),
        "bit_ops": int(model_cost.bit_ops),
        "flops": int(model_cost.flops),
        "params_mbit": float(model_cost.params_mbit),
        "size_bytes": conversion.size_bytes,
        "latency_ms": time_tflite(conversion.tflite, threads=1).median_ms,
        "parity_max_abs_diff": conversion.parity.max_abs_diff,
        "argmax_agreement": conversion.parity.argmax_agreement,
        "parity_samples": conversion.parity.samples,
        "op_census": conversion.census,
    }
    if float_layers == "int8":
        row.update(int8_layers=conversion.int8_layers, p90_rel_error=conversion.parity.p90_rel_error)
        if refused:
            row["int8_refused"] = refused
    return row


def format_table(rows):
    """The rows as a fixed-width table for the terminal."""
    width = max(16, *(len(row["name"]) for row in rows))
    head = (
        f"{'model':<{width}} {'accuracy':>8} {'bit-OPs':>12} {'size (B)':>9} {'latency ms':>10} "
        f"{'max|diff|':>9} {'argmax agr.':>11}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['name']:<{width}} {row['accuracy']:>8.4f} {row['bit_ops']:>12,} {row['size_bytes']:>9,} "
            f"{row['latency_ms']:>10.3f} {row['parity_max_abs_diff']:>9.2e} {row['argmax_agreement']:>11.4f}"
        )
    return "\n".join(lines)




def method_module(method):
    """The module of one demo method (`tfbin.demo.<method>`)."""
    check_one_of("method", method, METHODS)
    return importlib.import_module(f"tfbin.demo.{method}")


def run_demo(method=METHODS[0], epochs=12, width=32, seed=0, out=None, verbose=1, rows=None,
             dataset="digits", data_dir=None, manual_dir=None):
    """Trains each row of `method`'s demo, converts and times it; returns the report dict.

    Every row trains the same number of epochs from the same random state,
    on the same batches in the same order, whichever rows train before it.
    `rows` picks some of the method's `ROWS` (default: all). With `out`,
    writes `out/report.json` and `out/training_curves.png` once everything
    succeeded (nothing is written on failure).
    """
    module = method_module(method)
    check_int("epochs", epochs, minimum=1)
    rows = module.ROWS if rows is None else tuple(rows)
    # Rows that convert another row's trained model with int8 float layers: {row: that row}.
    int8_rows = getattr(module, "INT8_ROWS", {})
    for index, name in enumerate(rows):
        check_one_of("rows", name, module.ROWS)
        if name in int8_rows and int8_rows[name] not in rows[:index]:
            raise ValueError(f"rows: {name!r} converts the trained {int8_rows[name]!r} row with int8 float "
                             f"layers; list {int8_rows[name]!r} before it")
    results, histories, trained = [], {}, {}
    for name in rows:
        if name in int8_rows:
            model, loaded = trained[int8_rows[name]]
            if verbose:
                print(f"\n== {method}: {name}: {int8_rows[name]} with its float layers in int8")
            results.append(measure(name, model, loaded, float_layers="int8"))
            continue
        tf.keras.utils.set_random_seed(seed)
        # A pipeline per row: one shared pipeline would reshuffle on from where the previous row left
        # it, so a row's batches, and its result, would depend on the rows trained before it.
        loaded = data.load_dataset(dataset, batch_size=64, seed=seed, data_dir=data_dir, manual_dir=manual_dir)
        if verbose:
            print(f"\n== {method}: {name}: training {epochs} epochs on {dataset}")
        model, histories[name] = module.train_row(name, loaded, epochs, width, verbose)
        if name in int8_rows.values():
            trained[name] = model, loaded
        row = measure(name, model, loaded)
        if hasattr(module, "row_extras"):
            row.update(module.row_extras(name, model, histories[name]))
        results.append(row)
    report = {"method": method, "dataset": dataset, "epochs": epochs, "width": width, "seed": seed,
              "models": results}
    phases = module.phases(epochs) if hasattr(module, "phases") else None
    if phases:
        report["phases"] = phases
    if verbose:
        print("\n" + format_table(results))
    if out is not None:
        os.makedirs(out, exist_ok=True)
        shade = {}
        if phases:
            shade = dict(shaded_epochs=(phases["start_epoch"], phases["end_epoch"]), shade_label=phases["label"])
        plots.plot_training_curves(histories, os.path.join(out, "training_curves.png"), **shade)
        write_json(os.path.join(out, "report.json"), report)
        if verbose:
            print(f"\nwrote {os.path.join(out, 'report.json')} and training_curves.png")
    return report
