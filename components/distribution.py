"""Which tf.distribute strategy a training process runs under."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def training_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers (the Trainer
    run as a multi-worker job, e.g. on Kubeflow or Vertex), else the default strategy."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()
