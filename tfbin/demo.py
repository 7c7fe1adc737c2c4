"""The end-to-end demo: train binary networks on digits, convert with LCE, check and time them.

```python
import tfbin
report = tfbin.demo.run_demo(epochs=2, out="demo-out")
report["models"][0]["argmax_agreement"]
```
"""
import json
import os

import tensorflow as tf

from tfbin import cost, data, optimizers, plots, transfer
from tfbin.convert import convert, time_tflite, write_atomic
from tfbin.zoo import digits_resnet

__all__ = ["DEMO_MODELS", "format_table", "run_demo", "train"]

DEMO_MODELS = ("bnn",)


def train(conv, arrays, epochs, width=32, seed=0, verbose=1, callbacks=(), initial_model=None,
          **model_kwargs):
    """Builds a digits residual net of kind `conv`, trains it with Bop + Adam, returns (model, history).

    With `initial_model` (a trained float net of the same width), the new
    model starts from its weights (`tfbin.transfer.init_from_float`).
    """
    tf.keras.utils.set_random_seed(seed)
    model = digits_resnet(arrays.x_train.shape[1:], arrays.num_classes, width=width, conv=conv, **model_kwargs)
    if initial_model is not None:
        transfer.init_from_float(model, initial_model)
    model.compile(
        optimizers.bop_optimizer(learning_rate=1e-3, gamma=1e-3, threshold=1e-7),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        arrays.x_train,
        arrays.y_train,
        batch_size=64,
        epochs=epochs,
        validation_data=(arrays.x_test, arrays.y_test),
        callbacks=list(callbacks),
        verbose=verbose,
    )
    return model, history.history


def measure(name, model, arrays, export_model=None):
    """The report row of a trained model: accuracy, cost, LCE size, parity and latency."""
    _, accuracy = model.evaluate(arrays.x_test, arrays.y_test, verbose=0)
    conversion = convert(export_model or model, calibration_data=arrays.x_test)
    model_cost = cost.model_cost(model)
    return {
        "name": name,
        "accuracy": float(accuracy),
        "bit_ops": int(model_cost.bit_ops),
        "flops": int(model_cost.flops),
        "params_mbit": float(model_cost.params_mbit),
        "size_bytes": conversion.size_bytes,
        "latency_ms": time_tflite(conversion.tflite, threads=1).median_ms,
        "parity_max_abs_diff": conversion.parity.max_abs_diff,
        "argmax_agreement": conversion.parity.argmax_agreement,
        "op_census": conversion.census,
    }


def format_table(rows):
    head = (
        f"{'model':<12} {'accuracy':>8} {'bit-OPs':>12} {'size (B)':>9} {'latency ms':>10} "
        f"{'max|diff|':>9} {'argmax agr.':>11}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['name']:<12} {row['accuracy']:>8.4f} {row['bit_ops']:>12,} {row['size_bytes']:>9,} "
            f"{row['latency_ms']:>10.3f} {row['parity_max_abs_diff']:>9.2e} {row['argmax_agreement']:>11.4f}"
        )
    return "\n".join(lines)


def run_demo(epochs=4, width=32, seed=0, out=None, verbose=1, models=DEMO_MODELS):
    """Trains each demo model on digits, converts and times it; returns the report dict.

    With `out`, writes `out/report.json` and `out/training_curves.png` once
    everything succeeded (nothing is written on failure).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    unknown = set(models) - set(DEMO_MODELS)
    if unknown:
        raise ValueError(f"models must be among {', '.join(DEMO_MODELS)}; got {sorted(unknown)}")
    arrays = data.digits_arrays(image_size=8, seed=seed)
    rows, histories = [], {}
    for name in models:
        if verbose:
            print(f"\n== {name}: training {epochs} epochs on digits ({len(arrays.x_train)} images)")
        model, histories[name] = train(name, arrays, epochs, width=width, seed=seed, verbose=verbose)
        rows.append(measure(name, model, arrays))
    report = {
        "dataset": "digits",
        "epochs": epochs,
        "width": width,
        "seed": seed,
        "test_size": int(len(arrays.x_test)),
        "models": rows,
    }
    if verbose:
        print("\n" + format_table(rows))
    if out is not None:
        os.makedirs(out, exist_ok=True)
        plots.plot_training_curves(histories, os.path.join(out, "training_curves.png"))
        write_atomic(os.path.join(out, "report.json"), json.dumps(report, indent=2).encode())
        if verbose:
            print(f"\nwrote {os.path.join(out, 'report.json')} and training_curves.png")
    return report

