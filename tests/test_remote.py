"""`tfbin bench --ssh` against a real OpenSSH server on 127.0.0.1 (installed by .ci/run)."""
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from _convert_helpers import digits, run_cli, tiny_net

from tfbin.convert import convert, remote

SSHD = "/usr/sbin/sshd"


def _free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, process, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {process.stderr.read()}")
        with contextlib.closing(socket.socket()) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on port {port} within {seconds} s")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    # Not skipped when missing: CI installs openssh-server, and a skipped
    # remote test would hide a broken --ssh path.
    assert os.path.exists(SSHD), f"{SSHD} is missing: install openssh-server (.ci/run does)"
    assert shutil.which("ssh") and shutil.which("ssh-keygen"), "the OpenSSH client is missing"
    directory = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)], check=True)
    (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
    config = directory / "sshd_config"
    config.write_text(
        "\n".join([
            "ListenAddress 127.0.0.1",
            f"HostKey {directory / 'host_key'}",
            f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",  # the tests run as root in CI
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "LogLevel ERROR",
        ]) + "\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    port = _free_port()
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)], stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_port(port, process)
        yield {
            "port": port,
            "args": ["--ssh", "root@127.0.0.1", "--ssh-port", port, "--ssh-key", directory / "user_key",
                     "--ssh-known-hosts", directory / "known_hosts"],
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    # A local name a shell would mangle: spaces, quotes, $(...), a leading dash.
    path = tmp_path_factory.mktemp("remote") / "-a 'bnn' $(touch pwned).tflite"
    path.write_bytes(convert(tiny_net("bnn"), calibration_data=digits().x_test[:64]).tflite)
    return path


def test_bench_over_ssh_with_the_tfbin_runner(sshd, model_file, capsys, monkeypatch):
    # Record this run's own device directory: other workers' ssh tests make theirs at the same time.
    made = []
    make_temp_dir = remote.SshDevice.make_temp_dir
    monkeypatch.setattr(remote.SshDevice, "make_temp_dir", lambda self: made.append(make_temp_dir(self)) or made[-1])
    status, out, err = run_cli(
        capsys, "bench", model_file, *sshd["args"], "--remote-python", sys.executable,
        "--runs", "5", "--warmup", "1", "--json",
    )
    assert status == 0, err
    report = json.loads(out)
    assert report["device"] == f"ssh root@127.0.0.1 port {sshd['port']}"
    row = report["models"][0]
    assert row["name"] == model_file.name and row["runs"] == 5
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"]
    assert len(made) == 1 and os.path.basename(made[0]).startswith("tfbin.")
    assert not os.path.exists(made[0])  # the device's temporary directory is gone
    assert not (model_file.parent / "pwned").exists()


@pytest.mark.parametrize(
    "tool",
    ["/bin/true; touch {pwned}", "$(touch {pwned})", "`touch {pwned}`"],
)
def test_no_shell_injection_through_device_paths(sshd, model_file, tmp_path, capsys, tool):
    pwned = tmp_path / "pwned"
    status, _, err = run_cli(
        capsys, "bench", model_file, *sshd["args"], "--remote-python", tool.format(pwned=pwned), "--runs", "1"
    )
    assert status == 1 and "command failed" in err and "No such file" in err
    assert not pwned.exists()


def test_closed_port_fails_fast(sshd, model_file, capsys):
    args = list(sshd["args"])
    args[args.index("--ssh-port") + 1] = _free_port()
    start = time.monotonic()
    status, _, err = run_cli(capsys, "bench", model_file, *args, "--lce-benchmark", "/x", "--connect-timeout", "3")
    assert status == 1 and "cannot reach" in err and "refused" in err
    assert time.monotonic() - start < 10


def test_silent_device_times_out_within_the_bound(model_file, capsys):
    # A listener that accepts connections and never speaks, like a hung device.
    with contextlib.closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        start = time.monotonic()
        status, _, err = run_cli(
            capsys, "bench", model_file, "--ssh", "nobody@127.0.0.1", "--ssh-port", port,
            "--lce-benchmark", "/x", "--connect-timeout", "2", "--timeout", "5",
        )
        elapsed = time.monotonic() - start
    assert status == 1 and ("cannot reach" in err or "no answer" in err)
    assert elapsed < 12


def test_destination_checks():
    for good in ("pi@raspberrypi.local", "raspberrypi", "me@10.0.0.7", "root@::1", "a_b@host-1"):
        assert remote.check_destination(good) == good
    for bad in ("-oProxyCommand=x", "pi@host;id", "pi@host name", "pi@$(id)", "", "pi@", "@host", "p|i@h"):
        with pytest.raises(ValueError, match="invalid ssh destination"):
            remote.check_destination(bad)
