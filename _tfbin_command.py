"""The `tfbin` console command's launcher: it declares command mode before tfbin is imported.

`import tfbin` in a program registers tfbin's Keras objects, which loads
TensorFlow. The command instead loads only what the chosen subcommand needs,
so that its help and argument errors answer at once. The package cannot tell
the two apart by itself (`sys.argv` says little while modules are imported),
so this launcher, the console script's entry point, says so: `tfbin/__init__.py`
reads `STARTED`. It lives outside the package because importing anything in
the package runs `tfbin/__init__.py` first.
"""
STARTED = False


def main():
    global STARTED
    STARTED = True
    from tfbin.cli import main as run

    return run()
