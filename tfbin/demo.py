"""The end-to-end demo: train binary networks, convert with LCE, check and time them.

Rows (all the same residual architecture, same epochs, Bop + Adam):

- `bnn`: 1-bit network trained directly: `MultiBaseConv2D` with one weight and
  one activation base (a larq binary convolution with a learned activation
  threshold and scales), the architecture PaBT ends in;
- `larq_quantconv`: the classic larq BNN (plain `QuantConv2D`, sign
  activations, no scales);
- `mbn_3x3`: multi-base network, 3 weight x 3 activation bases, unpruned;
- `pabt_3x3_to_1x1`: the same 3/3 network pruned by `PruneToBinary` during
  training (warm-up, pruning, fine-tuning) down to one binary convolution per
  layer: the same cost as `bnn`.

```python
import tfbin
report = tfbin.demo.run_demo(epochs=2, out="demo-out")
report["models"][0]["argmax_agreement"]
```
"""
import json
import os

import numpy as np
import tensorflow as tf

from tfbin import callbacks, cost, data, optimizers, plots, transfer
from tfbin.convert import convert, time_tflite, write_atomic
from tfbin.zoo import digits_resnet

__all__ = ["DEMO_MODELS", "format_table", "pabt_phases", "run_demo", "train"]

DEMO_MODELS = ("bnn", "larq_quantconv", "mbn_3x3", "pabt_3x3_to_1x1")
CALIBRATION_SAMPLES = 1000


def pabt_phases(epochs):
    """(start_epoch, end_epoch) of pruning: ~15% warm-up, prune until ~60%, fine-tune the rest."""
    start = int(round(0.15 * epochs))
    end = min(max(start + 1, int(round(0.6 * epochs))), epochs)
    return start, end


def _row_model(name, epochs):
    """(conv kind, model kwargs, extra callbacks) of a demo row."""
    if name == "bnn":
        return "mbn", dict(weight_bases=1, activation_bases=1), []
    if name == "larq_quantconv":
        return "bnn", {}, []
    if name == "mbn_3x3":
        return "mbn", dict(weight_bases=3, activation_bases=3), []
    if name == "pabt_3x3_to_1x1":
        start, end = pabt_phases(epochs)
        # Pruning a little at every step keeps BatchNorm statistics in step with the network.
        prune = callbacks.PruneToBinary(start, end, frequency="step", update_every=1)
        return "mbn", dict(weight_bases=3, activation_bases=3), [prune]
    raise ValueError(f"models must be among {', '.join(DEMO_MODELS)}; got {name!r}")


def train(conv, dataset, epochs, width=32, seed=0, verbose=1, callbacks=(), initial_model=None,
          decay=False, **model_kwargs):
    """Builds a residual net of kind `conv` for `dataset`, trains it with Bop + Adam.

    `dataset` is a `tfbin.data.Dataset` or `tfbin.data.Arrays`. With
    `initial_model` (a trained float net of the same width), the new model
    starts from its weights (`tfbin.transfer.init_from_float`). With `decay`,
    eta and Bop's gamma decay linearly to 1% over the run. Returns
    (model, history dict).
    """
    tf.keras.utils.set_random_seed(seed)
    if isinstance(dataset, data.Arrays):
        input_shape, fit_data = dataset.x_train.shape[1:], dict(
            x=dataset.x_train, y=dataset.y_train, batch_size=64,
            validation_data=(dataset.x_test, dataset.y_test))
    else:
        input_shape, fit_data = dataset.input_shape, dict(x=dataset.train, validation_data=dataset.test)
    model = digits_resnet(input_shape, dataset.num_classes, width=width, conv=conv, **model_kwargs)
    if initial_model is not None:
        transfer.init_from_float(model, initial_model)
    optimizer = (
        tf.keras.optimizers.legacy.Adam(1e-3)  # nothing binary for Bop to train
        if conv == "float"
        else optimizers.bop_optimizer(
            learning_rate=1e-3, gamma=1e-3, threshold=1e-7, **_decay_kwargs(decay, dataset, epochs)
        )
    )
    model.compile(
        optimizer,
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(epochs=epochs, callbacks=list(callbacks), verbose=verbose, **fit_data)
    return model, history.history


def _decay_kwargs(decay, dataset, epochs):
    if not decay:
        return {}
    steps = (
        int(np.ceil(len(dataset.x_train) / 64))
        if isinstance(dataset, data.Arrays)
        else int(dataset.train.cardinality())
    )
    return dict(schedule_kind="linear", steps_per_epoch=steps, epochs=epochs,
                final_learning_rate=1e-5, final_gamma=1e-5)


def _calibration_batch(test, limit=CALIBRATION_SAMPLES):
    images, count = [], 0
    for batch, _ in test:
        images.append(batch.numpy())
        count += len(images[-1])
        if count >= limit:
            break
    return np.concatenate(images)[:limit]


def measure(name, model, dataset):
    """The report row of a trained model: accuracy, cost, LCE size, parity and latency."""
    _, accuracy = model.evaluate(dataset.test, verbose=0)
    conversion = convert(model, calibration_data=_calibration_batch(dataset.test))
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
        "parity_samples": conversion.parity.samples,
        "op_census": conversion.census,
    }


def format_table(rows):
    head = (
        f"{'model':<16} {'accuracy':>8} {'bit-OPs':>12} {'size (B)':>9} {'latency ms':>10} "
        f"{'max|diff|':>9} {'argmax agr.':>11}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['name']:<16} {row['accuracy']:>8.4f} {row['bit_ops']:>12,} {row['size_bytes']:>9,} "
            f"{row['latency_ms']:>10.3f} {row['parity_max_abs_diff']:>9.2e} {row['argmax_agreement']:>11.4f}"
        )
    return "\n".join(lines)


def run_demo(epochs=12, width=32, seed=0, out=None, verbose=1, models=DEMO_MODELS, dataset="digits",
             data_dir=None):
    """Trains each demo model, converts and times it; returns the report dict.

    With `out`, writes `out/report.json` and `out/training_curves.png` once
    everything succeeded (nothing is written on failure).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    rows_spec = {name: _row_model(name, epochs) for name in models}
    loaded = data.load_dataset(dataset, batch_size=64, seed=seed, data_dir=data_dir)
    rows, histories = [], {}
    for name, (conv, model_kwargs, extra_callbacks) in rows_spec.items():
        if verbose:
            print(f"\n== {name}: training {epochs} epochs on {dataset}")
        model, histories[name] = train(conv, loaded, epochs, width=width, seed=seed, verbose=verbose,
                                       callbacks=extra_callbacks, **model_kwargs)
        rows.append(measure(name, model, loaded))
    report = {"dataset": dataset, "epochs": epochs, "width": width, "seed": seed, "models": rows}
    phases = pabt_phases(epochs) if "pabt_3x3_to_1x1" in rows_spec else None
    if phases:
        report["pabt_phases"] = dict(zip(("start_epoch", "end_epoch"), phases))
    if verbose:
        print("\n" + format_table(rows))
    if out is not None:
        os.makedirs(out, exist_ok=True)
        plots.plot_training_curves(histories, os.path.join(out, "training_curves.png"), pruning_epochs=phases)
        write_atomic(os.path.join(out, "report.json"), json.dumps(report, indent=2).encode())
        if verbose:
            print(f"\nwrote {os.path.join(out, 'report.json')} and training_curves.png")
    return report
