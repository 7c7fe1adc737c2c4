"""`tfbin demo`: train binary networks with one method, convert them with LCE, check and time them."""
from tfbin.choices import METHODS
from tfbin.cli.args import add_dataset_arguments, fail, positive_int, verbosity, writable_dir


def add_parser(commands):
    parser = commands.add_parser(
        "demo", help="train binary nets with one method, convert with LCE, check parity, time them",
        description="Train the rows of one method's demo on the same data and epochs, convert each with "
        "LCE, check parity and time it. Writes report.json and training_curves.png to --out.",
    )
    parser.add_argument("--method", choices=METHODS, default=METHODS[0],
                        help=f"which method's demo (default {METHODS[0]}: BNN, the BNN with int8 float layers, "
                             "MBN 3/3 and PaBT 3/3 -> 1/1; "
                             "stq: BNN, STQ-A and STQ-B at PFR 0.5)")
    parser.add_argument("--epochs", type=positive_int, default=12, help="training epochs per model (default 12)")
    add_dataset_arguments(parser)
    parser.add_argument("--width", type=positive_int, default=32, help="channels of the first stage (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=writable_dir, help="write report.json and plots here")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run, parser=parser)


def run(args):
    from tfbin import demo
    from tfbin.convert import ConversionError
    from tfbin.data import DatasetUnavailableError

    try:
        demo.run_demo(
            method=args.method, epochs=args.epochs, width=args.width, seed=args.seed, out=args.out,
            verbose=verbosity(args), dataset=args.dataset, data_dir=args.data_dir,
            manual_dir=args.manual_dir,
        )
    except (ConversionError, DatasetUnavailableError) as error:
        fail(str(error), 1)
