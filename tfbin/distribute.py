"""Training on several devices or machines with `tf.distribute`, the way recipes do it.

- `get_strategy(name)`: "default" (one device), "mirrored" (every GPU of this
  host, or its CPU), "multiworker" (several hosts, each described by the
  TF_CONFIG environment variable), or a `tf.distribute.Strategy` you built.
- `scale_for_replicas(batch_size, learning_rate, replicas)`: the global batch
  grows with the replicas so each keeps its per-replica batch, and the
  learning rate of the non-binary variables grows with it (the linear scaling
  rule). Bop's gamma and threshold act on gradient averages, which do not
  change with the batch size, so they stay.
- `is_chief(strategy)`: whether this process writes checkpoints, logs and exports.

Build and compile the model inside `strategy.scope()`. Bop's flips are
computed from the all-reduced gradient, so every replica flips the same bits.

```python
import tfbin
from tfbin import distribute

strategy = distribute.get_strategy("mirrored")
batch_size, learning_rate = distribute.scale_for_replicas(64, 1e-3, strategy.num_replicas_in_sync)
distribute.is_chief(strategy)
```
"""
import os

import tensorflow as tf

from tfbin.choices import STRATEGIES
from tfbin.validation import check_int, check_number, check_one_of

__all__ = ["STRATEGIES", "get_strategy", "is_chief", "scale_for_replicas"]


def get_strategy(strategy="default"):
    """A `tf.distribute.Strategy`: `strategy` itself, or the one `STRATEGIES` names."""
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    check_one_of("strategy", strategy, STRATEGIES)
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "strategy='multiworker' needs the TF_CONFIG environment variable, which lists the "
            'workers and says which one this is, e.g. {"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def scale_for_replicas(batch_size, learning_rate, replicas):
    """(global batch size, learning rate) for `replicas` replicas of a per-replica `batch_size`."""
    check_int("batch_size", batch_size, minimum=1)
    check_number("learning_rate", learning_rate, positive=True)
    check_int("replicas", replicas, minimum=1)
    return batch_size * replicas, learning_rate * replicas


def is_chief(strategy):
    """True unless this process is a non-chief worker of a multi-worker strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    # With no "chief" task, worker 0 plays the chief (TensorFlow's convention).
    if "chief" in resolver.cluster_spec().jobs:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0
