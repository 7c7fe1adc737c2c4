"""Benchmark `.tflite` files on a remote device over ssh or adb.

The model is copied to a fresh temporary directory on the device and timed
there by `lce_benchmark_model` (LCE's build of TFLite's benchmark_model; not
on PyPI, give its path on the device) or, over ssh, by `tfbin.convert.runner`
under the device's Python when that Python has `larq_compute_engine`. Both
print the same "Inference timings in us" lines, read by
`tfbin.convert.bench.parse_benchmark_output`. The directory is removed
afterwards.

Every command is an argument list (no local shell); what runs on the device
is built from `shlex.quote`d words; destinations, serials and device paths
are checked first; every call has a timeout.

```python
# needs: an ARM board reachable over ssh, with lce_benchmark_model on it
from tfbin.convert import remote
device = remote.SshDevice("pi@raspberrypi.local", connect_timeout=10)
latencies = remote.benchmark(device, ["model.tflite"], lce_benchmark="/home/pi/lce_benchmark_model")
latencies[0].latency_ms
```
"""
import dataclasses
import os
import re
import shlex
import subprocess

from tfbin.convert import runner
from tfbin.convert.bench import BenchmarkOutputError, parse_benchmark_output

__all__ = [
    "AdbDevice",
    "RemoteError",
    "SshDevice",
    "benchmark",
    "check_destination",
    "check_device_path",
    "check_serial",
]

_DESTINATION = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9:][A-Za-z0-9.:-]*$")
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_TEMP_DIR = re.compile(r"^/[A-Za-z0-9._/-]+$")


class RemoteError(RuntimeError):
    """The device could not be reached, or the benchmark failed on it."""


def check_destination(text):
    """`user@host` or `host`: letters, digits, '.', '_', '-' (':' in IPv6 hosts); no options."""
    if not _DESTINATION.match(text or ""):
        raise ValueError(
            f"invalid ssh destination {text!r}: expected user@host (letters, digits, '.', '-', '_'), "
            "no spaces, shell characters or leading '-'"
        )
    return text


def check_serial(text):
    """An adb device serial such as `emulator-5554` or `192.168.1.7:5555`."""
    if not _SERIAL.match(text or ""):
        raise ValueError(f"invalid adb serial {text!r}: expected letters, digits, '.', ':', '-', '_'")
    return text


def check_device_path(text, what="path"):
    """A path on the device: non-empty, no control characters (it is quoted, not trusted)."""
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"invalid {what} {text!r}: must be non-empty without control characters")
    return text


def _quote(argv):
    return " ".join(shlex.quote(str(word)) for word in argv)


def _run(argv, what, timeout, stdin=None):
    try:
        return subprocess.run(
            argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise RemoteError(f"{what}: no answer within {timeout:g} s") from None
    except FileNotFoundError:
        raise RemoteError(f"{what}: {argv[0]!r} is not installed or not on PATH") from None


def _tail(text, lines=8):
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


@dataclasses.dataclass
class SshDevice:
    """A device reached with OpenSSH (key authentication only: BatchMode)."""

    destination: str
    port: int | None = None
    key: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0
    timeout: float = 600.0

    def __post_init__(self):
        check_destination(self.destination)
        if self.port is not None and not 1 <= int(self.port) <= 65535:
            raise ValueError(f"invalid ssh port {self.port!r}")
        # Absolute paths never start with '-', so ssh cannot read them as options.
        self.key = os.path.abspath(self.key) if self.key else None
        self.known_hosts = os.path.abspath(self.known_hosts) if self.known_hosts else None

    def __str__(self):
        return f"ssh {self.destination}" + (f" port {self.port}" if self.port else "")

    def _argv(self, command):
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}",
            "-o", "StrictHostKeyChecking=accept-new",
        ]
        if self.port:
            argv += ["-p", str(int(self.port))]
        if self.key:
            argv += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return argv + ["--", self.destination, command]

    def shell(self, command, stdin=None, timeout=None):
        """Runs `command` (already quoted) in the device's shell; returns its output."""
        timeout = timeout or self.timeout
        result = _run(self._argv(command), str(self), timeout + self.connect_timeout, stdin)
        if result.returncode == 255:  # ssh's own failure: unreachable, refused, auth
            raise RemoteError(f"cannot reach {self}: {_tail(result.stderr, 3)}")
        if result.returncode != 0:
            raise RemoteError(f"{self}: command failed (exit {result.returncode}):\n{_tail(result.stdout + result.stderr)}")
        return result.stdout

    def make_temp_dir(self):
        # A template rather than `-t`, whose meaning differs between GNU, BSD and busybox mktemp.
        return self.shell('mktemp -d "${TMPDIR:-/tmp}/tfbin.XXXXXX"', timeout=self.connect_timeout + 30).strip()

    def put(self, local, remote):
        with open(local, "rb") as f:
            self.shell(f"cat > {shlex.quote(remote)}", stdin=f)


@dataclasses.dataclass
class AdbDevice:
    """An Android device reached with `adb -s SERIAL` (push, shell)."""

    serial: str
    timeout: float = 600.0
    connect_timeout: float = 10.0
    adb: str = "adb"

    def __post_init__(self):
        check_serial(self.serial)

    def __str__(self):
        return f"adb {self.serial}"

    def _adb(self, args, timeout):
        result = _run([self.adb, "-s", self.serial, *args], str(self), timeout)
        if result.returncode != 0:
            raise RemoteError(f"{self}: {args[0]} failed (exit {result.returncode}):\n{_tail(result.stdout + result.stderr)}")
        return result.stdout

    def shell(self, command, timeout=None):
        # adb joins its arguments into one string for the device's shell, so
        # the command goes as that one, already quoted, string.
        return self._adb(["shell", command], timeout or self.timeout)

    def make_temp_dir(self):
        return self.shell("mktemp -d /data/local/tmp/tfbin.XXXXXX", timeout=self.connect_timeout + 30).strip()

    def put(self, local, remote):
        self._adb(["push", os.path.abspath(local), remote], self.timeout)


def _benchmark_command(model, threads, warmup, runs, remote_python, lce_benchmark, directory):
    if remote_python:
        return [remote_python, f"{directory}/runner.py", model,
                "--threads", threads, "--warmup", warmup, "--runs", runs]
    return [lce_benchmark, f"--graph={model}", f"--num_threads={threads}",
            f"--warmup_runs={warmup}", f"--num_runs={runs}"]


def benchmark(device, files, threads=1, warmup=3, runs=20, remote_python=None, lce_benchmark=None):
    """Times each local `.tflite` file on `device`; returns one `Latency` per file.

    Exactly one of `remote_python` (a Python with larq_compute_engine on the
    device; ssh only) and `lce_benchmark` (the path of lce_benchmark_model on
    the device) says what times the model there.
    """
    if (remote_python is None) == (lce_benchmark is None):
        raise ValueError("give exactly one of remote_python and lce_benchmark")
    if remote_python is not None and isinstance(device, AdbDevice):
        raise ValueError("adb devices run lce_benchmark_model; remote_python is for ssh")
    tool = check_device_path(remote_python or lce_benchmark, "remote tool path")
    directory = device.make_temp_dir()
    if not _TEMP_DIR.match(directory):
        raise RemoteError(f"{device}: unexpected answer from mktemp: {directory!r}")
    try:
        if remote_python:
            device.put(runner.__file__, f"{directory}/runner.py")
        latencies = []
        for i, path in enumerate(files):
            model = f"{directory}/model{i}.tflite"
            device.put(path, model)
            argv = _benchmark_command(model, threads, warmup, runs, remote_python, lce_benchmark, directory)
            output = device.shell(_quote(argv) + " 2>&1")
            try:
                latencies.append(parse_benchmark_output(output, threads=threads))
            except BenchmarkOutputError as error:
                raise RemoteError(f"{device}: {os.path.basename(tool)} on {path}: {error}") from None
        return latencies
    finally:
        try:
            device.shell(f"rm -rf {shlex.quote(directory)}", timeout=device.connect_timeout + 30)
        except RemoteError:
            pass  # the benchmark's own error (or result) matters more than the cleanup
