"""Early stopping counts its patience within each unfreezing stage: epochs a smaller
stage spent without improving do not stop the larger one before it has had its own."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.elastic.early_stopping import ResumableEarlyStopping
from aet.components.elastic.unfreezing import STAGE_LOG


def _stopping(patience: int) -> tuple[ResumableEarlyStopping, tf.keras.Model]:
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    stopping = ResumableEarlyStopping(
        monitor="val_loss", mode="min", patience=patience, restore_best_weights=True
    )
    stopping.set_model(model)
    stopping.on_train_begin()
    return stopping, model


def _epochs(stopping: ResumableEarlyStopping, model, losses, stages) -> int | None:
    """Feeds one epoch per loss; returns the epoch it stopped at, or None."""
    for epoch, (loss, stage) in enumerate(zip(losses, stages, strict=True)):
        logs = {"val_loss": loss} if stage is None else {"val_loss": loss, STAGE_LOG: stage}
        stopping.on_epoch_end(epoch, logs)
        if model.stop_training:
            return epoch
    return None


def test_a_new_stage_gets_its_own_patience_and_the_best_epoch_is_kept() -> None:
    stopping, model = _stopping(patience=2)
    best = [w.copy() for w in model.get_weights()]
    # Best at epoch 0, then no improvement: stage 0 used 1 epoch of patience, stage 1 1,
    # so it stops only after stage 2's second epoch without one.
    stopped = _epochs(stopping, model, [1.0, 1.1, 1.2, 1.3, 1.4], [0, 0, 1, 2, 2])
    assert stopped == 4
    assert stopping.best_epoch == 0
    for restored, kept in zip(model.get_weights(), best, strict=True):
        np.testing.assert_array_equal(restored, kept)


def test_without_stages_the_patience_runs_across_all_epochs() -> None:
    stopping, model = _stopping(patience=2)
    assert _epochs(stopping, model, [1.0, 1.1, 1.2, 1.3], [None] * 4) == 2


def test_the_stage_is_part_of_the_resumable_state() -> None:
    stopping, model = _stopping(patience=2)
    _epochs(stopping, model, [1.0, 1.1], [0, 1])
    resumed, _ = _stopping(patience=2)
    resumed.set_state(stopping.get_state())
    assert (resumed.stage, resumed.wait) == (1, 1)  # one epoch of stage 1 without a gain
