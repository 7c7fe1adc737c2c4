"""Training and tuning beyond one device, for real: two logical CPUs, two worker processes on 127.0.0.1."""
import csv
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import tfbin
from tfbin import distribute

TESTS = os.path.dirname(os.path.abspath(__file__))

# Trains the tests' tiny recipe under a strategy and prints what the test checks: replicas,
# global batch, and whether every replica's copy of every binary weight is the same and flipped.
TRAIN = textwrap.dedent("""
    import hashlib, json, os, sys
    import numpy as np
    import tfbin
    import larq as lq
    import tensorflow as tf
    sys.path.insert(0, {tests!r})
    from test_recipes import tiny_recipe
    from tfbin import recipes

    strategy_name = sys.argv[1]
    if strategy_name == "two-cpus":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = strategy_name

    class Initial(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.values = [v.numpy() for v in self.model.trainable_variables if lq.optimizers.Bop.is_binary_variable(v)]

    initial = Initial()
    run = recipes.train(tiny_recipe(epochs=2, pruning=None), sys.argv[2], dataset="digits", strategy=strategy,
                        verbose=0, callbacks=[initial])
    strategy = tf.distribute.get_strategy() if isinstance(strategy, str) else strategy
    binary = [v for v in run.model.trainable_variables if lq.optimizers.Bop.is_binary_variable(v)]
    copies = [[np.asarray(c) for c in run.model.distribute_strategy.experimental_local_results(v)] for v in binary]
    print(json.dumps({{
        "replicas": run.settings["replicas"],
        "global_batch_size": run.settings["global_batch_size"],
        "copies_agree": all(all(np.array_equal(c, cs[0]) for c in cs) for cs in copies),
        "flipped": int(sum(np.sum(cs[0] != before) for cs, before in zip(copies, initial.values))),
        "digest": hashlib.sha256(b"".join(cs[0].tobytes() for cs in copies)).hexdigest(),
        "model_path": run.model_path,
    }}))
""").format(tests=TESTS)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def environment(**extra):
    env = {name: value for name, value in os.environ.items() if name != "TF_CONFIG"}
    return dict(env, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def report(output):
    return json.loads(output.strip().splitlines()[-1])


def run_together(commands, folder, timeout=900):
    """Runs (argv, env) pairs at once; returns their (returncode, stdout, stderr).

    Output goes to files, not pipes: a process blocked on a full pipe would
    stall the others it runs collectives with.
    """
    started = []
    for index, (argv, env) in enumerate(commands):
        out, err = open(folder / f"{index}.out", "w"), open(folder / f"{index}.err", "w")
        started.append((subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env), out, err))
    try:
        for process, _, _ in started:
            process.wait(timeout=timeout)
    finally:
        for process, out, err in started:
            process.kill()
            out.close(), err.close()
    return [(process.returncode, open(out.name).read(), open(err.name).read()) for process, out, err in started]


def test_strategy_names_and_scaling():
    assert distribute.scale_for_replicas(64, 1e-3, 4) == (256, 4e-3)
    assert distribute.is_chief(distribute.get_strategy("default"))
    with pytest.raises(ValueError, match="strategy must be one of default, mirrored, multiworker"):
        distribute.get_strategy("tpu")


def test_multiworker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multiworker")


def test_mirrored_strategy_on_two_logical_cpus_trains_and_flips_agree(tmp_path):
    result = subprocess.run([sys.executable, "-c", TRAIN, "two-cpus", str(tmp_path / "out")], capture_output=True,
                            text=True, env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = report(result.stdout)
    assert run["replicas"] == 2 and run["global_batch_size"] == 256  # 128 per replica
    assert run["copies_agree"] and run["flipped"] > 0
    assert (tmp_path / "out" / "model.keras").exists()


def test_multiworker_strategy_with_two_processes_trains_the_same_bits(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    results = run_together(
        [
            ([sys.executable, "-c", TRAIN, "multiworker", str(tmp_path / f"out{index}")],
             environment(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})))
            for index in range(2)
        ],
        tmp_path,
    )
    for returncode, _, stderr in results:
        assert returncode == 0, stderr[-3000:]
    chief, other = (report(stdout) for _, stdout, _ in results)
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["digest"] == other["digest"] and chief["flipped"] > 0
    # Only the chief (worker 0) writes the results.
    assert chief["model_path"] and (tmp_path / "out0" / "model.keras").exists()
    assert other["model_path"] is None and not (tmp_path / "out1" / "model.keras").exists()


def tune_processes(out, max_trials, folder):
    port = free_ports(1)[0]
    args = [sys.executable, "-m", "tfbin.cli", "tune", "--preset", "quick", "--max-trials", str(max_trials),
            "--epochs", "1", "--width", "4", "--out", str(out), "--quiet"]
    results = run_together(
        [
            (args, environment(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
                               KERASTUNER_TUNER_ID=tuner_id))
            for tuner_id in ("chief", "tuner1", "tuner2")
        ],
        folder,
    )
    for returncode, _, stderr in results:
        assert returncode == 0, stderr[-3000:]
    return [stdout for _, stdout, _ in results]


def read_trials(out):
    with open(out / "results.csv") as f:
        return [line.split(",")[0] for line in f.read().splitlines()[1:]]


def test_distributed_search_with_a_chief_and_two_workers_finishes_and_resumes(tmp_path):
    out = tmp_path / "search"
    (tmp_path / "first").mkdir(), (tmp_path / "resumed").mkdir()
    chief, *workers = tune_processes(out, 3, tmp_path / "first")
    assert "Best: trial" in chief
    assert all("the chief writes the results" in worker for worker in workers)
    # In Keras Tuner's distributed mode the chief only serves the oracle: the workers trained these.
    assert read_trials(out) == ["1", "2", "3"]
    tune_processes(out, 5, tmp_path / "resumed")
    assert read_trials(out) == ["1", "2", "3", "4", "5"]


def _wait_for(condition, timeout, processes=()):
    """Polls `condition()` until it holds; fails once `timeout` seconds pass or a process exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        assert all(p.poll() is None for p in processes), "a process ended early"
        time.sleep(0.1)


def _ongoing(out):
    """{tuner id: trial id} of the trials the chief counts as running, from its saved state."""
    try:
        with open(out / "search" / "oracle.json") as f:
            return json.load(f)["ongoing_trials"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_a_worker_killed_mid_trial_leaves_its_trial_to_another_and_the_chief_finishes(tmp_path):
    out = tmp_path / "search"
    port = free_ports(1)[0]
    args = [sys.executable, "-m", "tfbin.cli", "tune", "--preset", "quick", "--max-trials", "1", "--epochs", "1",
            "--width", "4", "--worker-timeout", "6", "--out", str(out), "--quiet"]
    processes, logs = {}, {}
    try:
        for tuner_id in ("chief", "tuner1", "tuner2"):
            logs[tuner_id] = open(tmp_path / f"{tuner_id}.log", "w")
            env = environment(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port),
                              KERASTUNER_TUNER_ID=tuner_id)
            processes[tuner_id] = subprocess.Popen(args, stdout=logs[tuner_id], stderr=subprocess.STDOUT, env=env)
        # The search's only trial goes to one worker; the other is told to wait. Kill the first mid-trial.
        _wait_for(lambda: _ongoing(out), 300, processes.values())
        (victim, trial_id), = _ongoing(out).items()
        time.sleep(1)
        processes[victim].kill()
        processes[victim].wait(timeout=60)
        with open(out / "search" / f"trial_{trial_id}" / "trial.json") as f:
            assert json.load(f)["status"] == "RUNNING"  # killed before it finished
        survivors = [tuner_id for tuner_id in processes if tuner_id != victim]
        for tuner_id in survivors:
            assert processes[tuner_id].wait(timeout=300) == 0, (tmp_path / f"{tuner_id}.log").read_text()[-3000:]
    finally:
        for process in processes.values():
            process.kill()
        for log in logs.values():
            log.close()
    assert f"worker {victim} silent for over 6 s: its trial {trial_id} goes back" in (tmp_path / "chief.log").read_text()
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # The other worker ran it again: one whole row.
    assert [row["trial"] for row in rows] == ["1"] and all(rows[0].values())
    assert 0.0 < float(rows[0]["best_val_accuracy"]) <= 1.0
    assert not [name for name in os.listdir(out) if name.startswith(".tfbin-")]
