"""Training callbacks built from a domain's `training.elastic` section."""

from __future__ import annotations

import os

import tensorflow as tf

from aet.components.elastic.attention_monitor import AttentionMonitor
from aet.components.elastic.checkpoint import ResumeCheckpoint
from aet.components.elastic.early_stopping import ResumableEarlyStopping
from aet.components.elastic.events import EventLog
from aet.components.elastic.learning_rate import ElasticLearningRate
from aet.components.elastic.regularisation import ElasticRegularisation
from aet.components.elastic.state import ResumableState
from aet.components.elastic.unfreezing import ProgressiveUnfreezing
from aet.config import ElasticConfig
from aet.config.metrics import keras_mode

__all__ = [
    "AttentionMonitor",
    "ElasticLearningRate",
    "ElasticRegularisation",
    "EventLog",
    "ProgressiveUnfreezing",
    "ResumableEarlyStopping",
    "ResumeCheckpoint",
    "build_callbacks",
    "resume_checkpoint",
]


def build_callbacks(
    config: ElasticConfig,
    run_dir: str,
    base_rate: float,
    events: EventLog,
    probe: dict[str, tf.Tensor] | None = None,
    unfreeze_groups: list[list[tf.keras.layers.Layer]] | None = None,
) -> list[tf.keras.callbacks.Callback]:
    """The configured adaptations, then TensorBoard and a per-epoch CSV log in `run_dir`.

    The adaptations come first: they write `learning_rate` and the attention entropies
    (read on the `probe` batch) into the epoch's logs, which the loggers (and Keras'
    History) then see. Adaptations and alarms go to `events`. `unfreeze_groups` (head
    first) are given for a warm-started model, which then unfreezes in stages.
    """
    mode = keras_mode(config.monitor)
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
                settle_epochs=regularisation.settle_epochs,
                step=regularisation.step,
                min_rate=regularisation.min_rate,
                max_rate=regularisation.max_rate,
                weight_decay_factor=regularisation.weight_decay_factor,
                min_weight_decay=regularisation.min_weight_decay,
                max_weight_decay=regularisation.max_weight_decay,
            )
        )
    if config.unfreezing and unfreeze_groups:
        unfreezing = config.unfreezing
        callbacks.append(
            ProgressiveUnfreezing(
                unfreeze_groups,
                events,
                schedule=unfreezing.schedule,
                every_epochs=unfreezing.every_epochs,
                monitor=config.monitor,
                mode=mode,
                patience=unfreezing.patience,
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
        # Appends, so a run resumed in the same folder keeps the epochs before the stop.
        tf.keras.callbacks.CSVLogger(os.path.join(run_dir, "training_log.csv"), append=True),
    ]
    if config.early_stopping:
        callbacks.append(
            ResumableEarlyStopping(
                monitor=config.monitor,
                mode=mode,
                patience=config.early_stopping.patience,
                restore_best_weights=True,
            )
        )
    return callbacks


def resume_checkpoint(
    config: ElasticConfig,
    directory: str,
    callbacks: list[tf.keras.callbacks.Callback],
    events: EventLog,
) -> ResumeCheckpoint | None:
    """The checkpoint callback over every resumable callback in `callbacks` (append it
    after them), or None when the config turns resuming off."""
    if not config.resume:
        return None
    resumables = {type(c).__name__: c for c in callbacks if isinstance(c, ResumableState)}
    if len(resumables) != sum(isinstance(c, ResumableState) for c in callbacks):
        raise ValueError("two resumable callbacks of the same type cannot share a checkpoint")
    return ResumeCheckpoint(
        directory,
        resumables,
        events,
        every_epochs=config.resume.every_epochs,
        keep=config.resume.keep,
    )
