"""Running the `tfbin` command as users do: its console script, in a fresh process."""
import os
import subprocess
import sys

# pip puts the console script next to the interpreter of the environment it installs into.
TFBIN = os.path.join(os.path.dirname(sys.executable), "tfbin")


def run_tfbin(*args, timeout=600, quiet_tensorflow=True, **kwargs):
    """`tfbin ARGS...` as a CompletedProcess with text output; TensorFlow's C++ logs hidden unless asked."""
    env = dict(os.environ)
    if quiet_tensorflow:
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    else:
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([TFBIN, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout,
                          **kwargs)


def assert_one_line_per_epoch(stdout, epochs):
    """`stdout` of a command that trained shows `epochs` ("epoch 1/3", ...), each on a line, and no progress bar."""
    assert not {"\r", "\b"} & set(stdout), "a progress bar redrew itself"
    assert "[=" not in stdout and "ETA" not in stdout and "step/step" not in stdout, stdout[-3000:]
    assert [line.split(" - ")[0] for line in stdout.splitlines() if line.startswith("epoch ")] == epochs, stdout
