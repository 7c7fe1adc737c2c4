"""`tfbin demo` (PaBT) over seeds: the 1/1 network trained directly against PaBT 3/3 -> 1/1.

Runs `tfbin.demo.run_demo` with the rows `bnn` and `pabt_3x3_to_1x1` for every seed and tabulates
their test accuracies and PaBT's smoothness figures: `pabt_max_drop`, the largest fall of test
accuracy during pruning below its value before pruning (the figure the demo prints first), and
`pabt_max_fall`, below its best value since. Each row is the one `tfbin demo --seed N` trains: a
row's batches do not depend on the rows trained before it.

    python benchmarks/demo_seeds.py --seeds 0 1 2 3 4 5
    python benchmarks/demo_seeds.py --quick --out /tmp/demo_seeds.md     # a smoke run (see --help)

The table is printed and written to --out; the reports go to --out with .json.
"""
import argparse
import os
import shlex
import sys

import numpy as np

import tfbin  # noqa: F401  (before TensorFlow)
from common import add_quick_flag, print_and_save, start_quick
from tfbin.demo import run_demo  # noqa: E402
from tfbin.files import write_json  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ROWS = ("bnn", "pabt_3x3_to_1x1")
WIDTH, QUICK_WIDTH = 32, 4  # the demo's width, and a smoke run's


def table(reports, epochs):
    lines = [
        f"`tfbin demo` (digits, width {reports[0]['width']}, {epochs} epochs), rows bnn and pabt_3x3_to_1x1 per seed; "
        "test accuracy "
        "with moving statistics; PaBT's falls in percentage points over its pruning phase",
        "",
        "| seed | bnn | PaBT | PaBT drop below its value before pruning | PaBT fall below its best |",
        "|---|---|---|---|---|",
    ]
    for report in reports:
        rows = {row["name"]: row for row in report["models"]}
        bnn, pabt = rows["bnn"], rows["pabt_3x3_to_1x1"]
        lines.append(f"| {report['seed']} | {bnn['accuracy']:.4f} | {pabt['accuracy']:.4f} | "
                     f"{100 * pabt['pabt_max_drop']:.1f} | {100 * pabt['pabt_max_fall']:.1f} |")
    column = {name: [next(r for r in rep["models"] if r["name"] == name) for rep in reports] for name in ROWS}
    drops = [100 * r["pabt_max_drop"] for r in column["pabt_3x3_to_1x1"]]
    falls = [100 * r["pabt_max_fall"] for r in column["pabt_3x3_to_1x1"]]
    lines.append(f"| mean | {np.mean([r['accuracy'] for r in column['bnn']]):.4f} | "
                 f"{np.mean([r['accuracy'] for r in column['pabt_3x3_to_1x1']]):.4f} | "
                 f"{np.mean(drops):.1f} (worst {max(drops):.1f}) | {np.mean(falls):.1f} (worst {max(falls):.1f}) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per row (the demo trains 12)")
    parser.add_argument("--out", default=os.path.join(RESULTS, "demo_seeds.md"))
    add_quick_flag(parser, f"width {QUICK_WIDTH}, 2 epochs (the fewest with a pruning phase), the first seed")
    args = parser.parse_args(argv)
    start_quick(args)
    width = WIDTH
    if args.quick:
        width, args.epochs, args.seeds = QUICK_WIDTH, 2, args.seeds[:1]
    command = "python benchmarks/demo_seeds.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    reports = []
    for seed in args.seeds:
        reports.append(run_demo(method="pabt", epochs=args.epochs, width=width, seed=seed, rows=ROWS, verbose=0))
        pabt = reports[-1]["models"][1]
        print(f"seed {seed}: PaBT {pabt['accuracy']:.4f}, drop {100 * pabt['pabt_max_drop']:.1f} pp, "
              f"fall {100 * pabt['pabt_max_fall']:.1f} pp", flush=True)
    write_json(os.path.splitext(args.out)[0] + ".json", reports)
    print_and_save(table(reports, args.epochs) + f"\nCommand:\n\n    {command}\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
