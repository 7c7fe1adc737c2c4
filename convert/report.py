"""Tables and plots of conversions and benchmarks, for people (JSON is in the commands).

```python
from tfbin.convert import report

print(report.census_table({"LceBconv2d": 4, "CONV_2D": 2}))
# rows: dicts as `tfbin bench --json` prints them
rows = [
    {"name": "bnn.tflite", "size_bytes": 30_000, "census": {"LceBconv2d": 4}, "bit_ops": 2_064_384,
     "flops": 10_000, "ops": 42_256, "median_ms": 0.14, "p90_ms": 0.15, "min_ms": 0.13, "latency_ms": 0.14},
    {"name": "float.tflite", "size_bytes": 90_000, "census": {"CONV_2D": 6}, "bit_ops": 0,
     "flops": 2_074_384, "ops": 2_074_384, "median_ms": 0.09, "p90_ms": 0.1, "min_ms": 0.08, "latency_ms": 0.09},
]
print(report.bench_table(rows))
report.plot_latency(rows, "latency.png")
```
"""
__all__ = ["BINARY_OPS", "OP_NOTES", "bench_table", "census_table", "plot_latency"]

OP_NOTES = {
    "LceBconv2d": "binary convolution",
    "LceQuantize": "sign + bitpack",
    "LceDequantize": "bits back to float",
    "LceBMaxPool2d": "binary max pool",
    "CONV_2D": "float (or int8) convolution",
    "DEPTHWISE_CONV_2D": "float (or int8) depthwise convolution",
    "FULLY_CONNECTED": "float (or int8) dense",
    # OpenVINO
    "BinaryConvolution": "binary convolution (XNOR-popcount)",
    "FakeQuantize": "sign as one bit before a BinaryConvolution; int8 quantization elsewhere",
    "Convolution": "float (or int8) convolution",
    "GroupConvolution": "float (or int8) grouped/depthwise convolution",
    "MatMul": "float (or int8) dense",
}
# Operators that carry the binary computation; listed first and counted as binary convolutions.
BINARY_OPS = ("LceBconv2d", "BinaryConvolution")
_BINARY_FIRST = {"LceBconv2d", "LceQuantize", "LceDequantize", "LceBMaxPool2d", "BinaryConvolution", "FakeQuantize"}


def census_table(census):
    """One row per operator, binary ops first, with what each one is."""
    order = sorted(census, key=lambda op: (op not in _BINARY_FIRST, op))
    width = max(20, *(len(op) for op in census)) if census else 20
    lines = [f"{'operator':<{width}} {'count':>5}", "-" * (width + 6)]
    for op in order:
        note = OP_NOTES.get(op, "")
        lines.append(f"{op:<{width}} {census[op]:>5}   {note}".rstrip())
    lines.append(f"{'total':<{width}} {sum(census.values()):>5}")
    return "\n".join(lines)


def _ms(value):
    return "-" if value is None else f"{value:.3f}"


def bench_table(rows):
    """Latency and size of several models side by side; then latency / fastest.

    OpenVINO rows also say the precision that ran and, when a larger batch
    was timed, the throughput at that batch.
    """
    fastest = min(row["latency_ms"] for row in rows)
    width = max(12, *(len(row["name"]) for row in rows))
    precision = any(row.get("precision") for row in rows)
    batch = max(row.get("batch", 1) for row in rows)
    head = (
        f"{'model':<{width}} {'size (B)':>10} {'bin. convs':>10} {'bit-OPs':>13} {'FLOPs':>12} "
        f"{'median ms':>9} {'p90 ms':>8} {'min ms':>8} {'x fastest':>9}"
        + (f" {'precision':>9}" if precision else "")
        + (f" {f'img/s @{batch}':>10}" if batch > 1 else "")
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['name']:<{width}} {row['size_bytes']:>10,} {sum(row['census'].get(op, 0) for op in BINARY_OPS):>10} "
            f"{row['bit_ops']:>13,} {row['flops']:>12,} {_ms(row['median_ms']):>9} {_ms(row['p90_ms']):>8} "
            f"{_ms(row['min_ms']):>8} {row['latency_ms'] / fastest:>9.2f}"
            + (f" {row.get('precision') or '-':>9}" if precision else "")
            + (f" {row['images_per_s']:>10.1f}" if batch > 1 else "")
        )
    if any(row["median_ms"] is None for row in rows):
        lines.append("median not reported by the benchmark tool: the latency used is its mean")
    return "\n".join(lines)


def plot_latency(rows, path, title="latency"):
    """Latency against bit-OPs (left) and OPs = bit-OPs/64 + FLOPs (right), one labelled point per model."""
    from tfbin.plots import new_figure, save_figure

    fig, axes = new_figure(2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "bit_ops", "bit-OPs"), (axes[1], "ops", "OPs = bit-OPs/64 + FLOPs")):
        for i, row in enumerate(rows):
            x = row[key] / 1e6
            ax.scatter([x], [row["latency_ms"]], color=f"C{i % 10}")
            ax.annotate(row["name"], (x, row["latency_ms"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(xlabel=f"{label} (millions)", ylabel="latency (ms)", title=title)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    save_figure(fig, path)
