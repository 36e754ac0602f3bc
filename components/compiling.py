"""How every architecture is compiled: AdamW with variable weight decay at the config's
rate, and for classifiers the label's loss and the metrics declared as trained for the
task (config/metrics.py)."""

from __future__ import annotations

import tensorflow as tf

from aet.components.metrics import build_keras_metric
from aet.components.optimizers import AdamWVariableDecay
from aet.config import DomainConfig
from aet.config.metrics import METRICS, training_metrics


def adamw(config: DomainConfig) -> AdamWVariableDecay:
    training = config.training
    return AdamWVariableDecay(
        learning_rate=training.learning_rate, weight_decay=training.weight_decay
    )


def compile_classifier(
    model: tf.keras.Model, config: DomainConfig, optimizer: tf.keras.optimizers.Optimizer
) -> None:
    """The label's cross-entropy and every metric the task trains with."""
    if config.is_binary:
        loss = tf.keras.losses.BinaryCrossentropy()
    else:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()
    metrics = [
        build_keras_metric(METRICS[name].training[config.task])
        for name in training_metrics(config.task)
        if METRICS[name].training[config.task] is not None
    ]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
