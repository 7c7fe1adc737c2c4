"""Keras Tuner's distributed search, made to finish when a worker dies mid-trial.

In Keras Tuner's distributed mode the chief's oracle hands each worker a
trial and counts it as running until that worker ends it; the chief stops
once no trial is running. A worker killed mid-trial never ends its trial,
so the chief of keras-tuner 1.4.8 waits forever (it has no notion of a dead
worker), and the other workers leave as soon as nothing is left to hand out.

Here each worker tells the chief every `worker_timeout / 6` seconds that it
is alive while it trains (`WorkerClient`), and the chief (`serve`) sends
the trial of a worker silent for longer than `worker_timeout` back to the
queue, as keras-tuner does with the running trials of a restarted chief;
workers with nothing to do wait while trials still run elsewhere, so that
one of them runs it again, from the start. A worker restarted with the same
KERASTUNER_TUNER_ID before the timeout gets its unfinished trial back at
once (keras-tuner's own rule). With no worker left, the chief waits for one.
"""
import threading
import time
from concurrent import futures

import grpc

# keras_tuner must first be imported the tf.keras way, before its modules below.
from tfbin.tuning._keras_tuner import keras_tuner  # noqa: F401
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief, oracle_client
from keras_tuner.src.engine import metrics_tracking
from keras_tuner.src.engine.oracle import synchronized
from keras_tuner.src.engine.trial import TrialStatus

__all__ = ["DEFAULT_WORKER_TIMEOUT", "WorkerClient", "serve"]

# Seconds without a word from a worker after which its trial goes to another.
DEFAULT_WORKER_TIMEOUT = 60.0
# A worker speaks this many times per timeout: one late heartbeat is no death.
_BEATS_PER_TIMEOUT = 6


@synchronized
def _holder(oracle, trial_id):
    """The id of the tuner running trial `trial_id`, or None."""
    return next((tuner for tuner, trial in oracle.ongoing_trials.items() if trial.trial_id == trial_id), None)


@synchronized
def _create_or_wait(oracle, tuner_id):
    """`oracle.create_trial`, but IDLE rather than STOPPED while trials still run: one may come back."""
    trial = oracle.create_trial(tuner_id)
    if trial.status == TrialStatus.STOPPED and oracle.ongoing_trials:
        oracle.tuner_ids.add(tuner_id)  # create_trial let it go
        trial.status = TrialStatus.IDLE
    return trial


@synchronized
def _reclaim(oracle, silent):
    """Sends the trials of the tuners in `silent` back to the queue; returns {tuner id: trial id}."""
    reclaimed = {}
    for tuner_id in silent:
        oracle.tuner_ids.discard(tuner_id)
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        if trial is not None:
            trial.metrics = metrics_tracking.MetricsTracker()  # the epochs of the run that died
            oracle._retry_queue.append(trial.trial_id)
            reclaimed[tuner_id] = trial.trial_id
    if reclaimed:
        oracle.save()
    return reclaimed


class _Servicer(oracle_chief.OracleServicer):
    """keras-tuner's oracle service, noting when each tuner last spoke."""

    def __init__(self, oracle):
        super().__init__(oracle)
        self.last_heard = {}  # tuner id -> time.monotonic()

    def heard(self, tuner_id):
        if tuner_id is not None:
            self.last_heard[tuner_id] = time.monotonic()

    def silent(self, timeout):
        """The tuners of the search not heard from for more than `timeout` seconds."""
        now = time.monotonic()
        return [t for t in list(self.oracle.tuner_ids) if now - self.last_heard.setdefault(t, now) > timeout]

    def CreateTrial(self, request, context):
        self.heard(request.tuner_id)
        trial = _create_or_wait(self.oracle, request.tuner_id)
        if trial.status == TrialStatus.STOPPED:
            self.stop_triggered = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        self.heard(_holder(self.oracle, request.trial_id))
        return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        self.heard(_holder(self.oracle, request.trial.trial_id))
        return super().EndTrial(request, context)

    def GetTrial(self, request, context):
        self.heard(_holder(self.oracle, request.trial_id))
        return super().GetTrial(request, context)


def serve(oracle, address, worker_timeout=DEFAULT_WORKER_TIMEOUT, poll_seconds=1.0):
    """Serves `oracle` at `address` ("host:port") until every trial has ended: the chief's part of a search.

    Replaces keras-tuner's `oracle_chief.start_server`, which waits forever for
    the trial of a dead worker. Returns once the workers have all been told
    that the search is over, or have been silent for `worker_timeout` seconds.
    """
    servicer = _Servicer(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
            for tuner_id, trial_id in _reclaim(oracle, servicer.silent(worker_timeout)).items():
                print(f"worker {tuner_id} silent for over {worker_timeout:g} s: its trial {trial_id} goes back "
                      "to the queue, for the next worker that asks", flush=True)
    finally:
        server.stop(grace=None)


class WorkerClient(oracle_client.OracleClient):
    """A worker's `OracleClient` that keeps telling the chief it is alive while it trains a trial.

    Every `worker_timeout / 6` seconds it asks the chief for its trial, on a
    thread of its own (so a long epoch is no silence); and when the chief
    has no trial for it yet, it waits that long before asking again rather
    than asking at once (keras-tuner asks again at once).
    """

    def __init__(self, oracle, worker_timeout=DEFAULT_WORKER_TIMEOUT):
        super().__init__(oracle)
        self.interval = worker_timeout / _BEATS_PER_TIMEOUT
        self._stop_beating = threading.Event()

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self._beat_during(trial.trial_id)
        elif trial.status == TrialStatus.IDLE:
            time.sleep(self.interval)
        return trial

    def end_trial(self, trial):
        self._stop_beating.set()
        super().end_trial(trial)

    def _beat_during(self, trial_id):
        self._stop_beating.set()  # the beat of an earlier trial, if its end went unreported
        stop = self._stop_beating = threading.Event()

        def beat():
            while not stop.wait(self.interval):
                try:
                    self.get_trial(trial_id)
                except grpc.RpcError:
                    return  # the chief is gone: the trial's own calls to it will say so

        threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True).start()
