"""`tfbin summary`: bit-OPs, FLOPs, OPs and Mbit of a saved model."""
from tfbin.cli.args import add_unsafe_load_argument, load_model_or_exit


def add_parser(commands):
    parser = commands.add_parser("summary", help="bit-OPs, FLOPs, OPs and Mbit of a saved model")
    parser.add_argument("model", help="a .keras, .h5 or SavedModel path")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_unsafe_load_argument(parser)
    parser.set_defaults(run=run, parser=parser)


def run(args):
    model = load_model_or_exit(args.model, args.unsafe_load)  # a bad file answers before TensorFlow loads
    import json

    from tfbin import cost

    model_cost = cost.model_cost(model)
    print(json.dumps(model_cost.to_dict(), indent=2) if args.json else model_cost.table())
