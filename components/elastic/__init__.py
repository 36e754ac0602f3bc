"""Training callbacks built from a domain's `training.elastic` section."""

from __future__ import annotations

import os

import tensorflow as tf

from components.elastic.attention_monitor import AttentionMonitor
from components.elastic.events import EventLog
from components.elastic.learning_rate import ElasticLearningRate
from components.elastic.regularisation import ElasticRegularisation
from pipelines.config import ElasticConfig

__all__ = [
    "AttentionMonitor",
    "ElasticLearningRate",
    "ElasticRegularisation",
    "EventLog",
    "build_callbacks",
    "monitor_mode",
]


def monitor_mode(monitor: str) -> str:
    """Losses improve downwards, every other trained metric (auc, accuracy, ks) upwards."""
    return "min" if monitor.endswith("loss") else "max"


def build_callbacks(
    config: ElasticConfig,
    run_dir: str,
    base_rate: float,
    events: EventLog,
    probe: dict[str, tf.Tensor] | None = None,
) -> list[tf.keras.callbacks.Callback]:
    """The configured adaptations, then TensorBoard and a per-epoch CSV log in `run_dir`.

    The adaptations come first: they write `learning_rate` and the attention entropies
    (read on the `probe` batch) into the epoch's logs, which the loggers (and Keras'
    History) then see. Adaptations and alarms go to `events`.
    """
    mode = monitor_mode(config.monitor)
    callbacks: list[tf.keras.callbacks.Callback] = []
    if config.learning_rate:
        schedule = config.learning_rate
        callbacks.append(
            ElasticLearningRate(
                monitor=config.monitor,
                mode=mode,
                base_rate=base_rate,
                warmup_steps=schedule.warmup_steps,
                factor=schedule.factor,
                patience=schedule.patience,
                cooldown=schedule.cooldown,
                min_rate=schedule.min_learning_rate,
                restore_best_on_cut=schedule.restore_best_on_cut,
                events=events,
            )
        )
    if config.regularisation:
        regularisation = config.regularisation
        callbacks.append(
            ElasticRegularisation(
                regularisation.metric,
                events,
                widen_above=regularisation.widen_above,
                narrow_below=regularisation.narrow_below,
                patience=regularisation.patience,
                step=regularisation.step,
                min_rate=regularisation.min_rate,
                max_rate=regularisation.max_rate,
                weight_decay_factor=regularisation.weight_decay_factor,
                min_weight_decay=regularisation.min_weight_decay,
                max_weight_decay=regularisation.max_weight_decay,
            )
        )
    if config.attention_monitor and probe is not None:
        monitor = config.attention_monitor
        callbacks.append(
            AttentionMonitor(
                probe,
                events,
                collapse_below=monitor.collapse_below,
                uniform_above=monitor.uniform_above,
            )
        )
    callbacks += [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs"), update_freq="epoch"),
        tf.keras.callbacks.CSVLogger(os.path.join(run_dir, "training_log.csv")),
    ]
    if config.early_stopping:
        callbacks.append(
            tf.keras.callbacks.EarlyStopping(
                monitor=config.monitor,
                mode=mode,
                patience=config.early_stopping.patience,
                restore_best_weights=True,
            )
        )
    return callbacks
