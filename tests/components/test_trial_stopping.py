"""`components.trial_stopping`: the median stopping rule stops a trial that falls behind
the finished ones once its grace epochs have passed, and the wall clock ends a trial."""

from __future__ import annotations

import time

import pytest
import tensorflow as tf

from aet.components.trial_stopping import MedianStopping, StopAtDeadline

# Two finished trials' val_auc per epoch: running averages after 2 epochs 0.65 and 0.55.
FINISHED_AUC = [[0.6, 0.7, 0.8, 0.85], [0.5, 0.6, 0.7, 0.75]]


def _stopped_after(callback: tf.keras.callbacks.Callback, values: list[float], name: str):
    """Feeds `values` as one epoch each; the 1-based epoch training stopped after."""
    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    callback.set_model(model)
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {name: value})
        if model.stop_training:
            return epoch + 1
    return None


@pytest.mark.parametrize(
    ("curve", "stopped_after"),
    [
        ([0.5, 0.52, 0.9], 2),  # best 0.52 behind the median 0.6 once the grace ends
        ([0.3, 0.61, 0.75], None),  # ahead of the median: 0.61 > 0.6, then 0.75 > 0.65
        ([0.3, 0.4, 0.95], 2),  # judged by epoch 2, whatever comes later
    ],
)
def test_a_trial_behind_the_median_stops_after_its_grace(curve, stopped_after) -> None:
    rule = MedianStopping("val_auc", "max", FINISHED_AUC, grace_epochs=2)
    assert _stopped_after(rule, curve, "val_auc") == stopped_after


def test_no_trial_stops_before_its_grace_or_without_finished_trials() -> None:
    assert (
        _stopped_after(MedianStopping("val_auc", "max", FINISHED_AUC, 3), [0.1, 0.1], "val_auc")
        is None
    )
    assert _stopped_after(MedianStopping("val_auc", "max", [], 1), [0.1, 0.1], "val_auc") is None


def test_lower_is_better_for_a_loss() -> None:
    finished = [[0.7, 0.6], [0.8, 0.7]]  # running averages 0.65 and 0.75: median 0.7
    assert (
        _stopped_after(MedianStopping("val_loss", "min", finished, 2), [0.9, 0.72], "val_loss") == 2
    )
    assert (
        _stopped_after(MedianStopping("val_loss", "min", finished, 2), [0.9, 0.68], "val_loss")
        is None
    )


def test_the_deadline_ends_training_after_the_epoch_it_passed_in() -> None:
    assert _stopped_after(StopAtDeadline(time.monotonic() + 3600), [1.0, 1.0], "loss") is None
    assert _stopped_after(StopAtDeadline(time.monotonic() - 1), [1.0, 1.0], "loss") == 1
