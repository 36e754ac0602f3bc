"""Training callbacks built from a domain's `training.elastic` section."""

from __future__ import annotations

import os

import tensorflow as tf

from pipelines.config import ElasticConfig


def build_callbacks(config: ElasticConfig, run_dir: str) -> list[tf.keras.callbacks.Callback]:
    """TensorBoard and a per-epoch CSV log in `run_dir`, then the configured adaptations."""
    mode = "min" if config.monitor.endswith("loss") else "max"
    callbacks: list[tf.keras.callbacks.Callback] = [
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs"), update_freq="epoch"),
        tf.keras.callbacks.CSVLogger(os.path.join(run_dir, "training_log.csv")),
    ]
    if config.reduce_lr_on_plateau:
        plateau = config.reduce_lr_on_plateau
        callbacks.append(
            tf.keras.callbacks.ReduceLROnPlateau(
                monitor=config.monitor,
                mode=mode,
                factor=plateau.factor,
                patience=plateau.patience,
                min_lr=plateau.min_learning_rate,
            )
        )
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
