"""Why a tuning trial stops before its epochs run out, besides the elastic callbacks'
own early stopping: the search's wall clock, and the median stopping rule.

keras-tuner stops bad trials only inside Hyperband's rounds; random and Bayesian search
train every trial to the end. The median stopping rule (Golovin et al., "Google
Vizier", KDD 2017) is written here: after a grace period a trial stops when its best
objective so far is worse than the median of the finished trials' running averages
over the same epochs.
"""

from __future__ import annotations

import logging
import statistics
import time

import tensorflow as tf


class StopAtDeadline(tf.keras.callbacks.Callback):
    """Ends a trial's training after the epoch during which the deadline passed."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


class MedianStopping(tf.keras.callbacks.Callback):
    """Stops a trial that falls behind the median of the finished ones.

    `finished` holds each finished trial's objective per epoch; the caller appends
    this trial's curve once it ends. `direction` is "min" or "max"."""

    def __init__(
        self, objective: str, direction: str, finished: list[list[float]], grace_epochs: int
    ) -> None:
        super().__init__()
        self.objective = objective
        self.lower_is_better = direction == "min"
        self.finished = finished
        self.grace_epochs = grace_epochs
        self.best: float | None = None
        self.stopped_epoch: int | None = None

    def _better(self, value: float, than: float) -> bool:
        return value < than if self.lower_is_better else value > than

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.objective)
        if value is None:
            return
        if self.best is None or self._better(value, self.best):
            self.best = value
        if epoch + 1 < self.grace_epochs or not self.finished:
            return
        median = statistics.median(
            statistics.mean(curve[: epoch + 1]) for curve in self.finished if curve
        )
        if self._better(median, self.best):
            self.model.stop_training = True
            self.stopped_epoch = epoch
            logging.info(
                "trial stopped after epoch %d: best %s %.4f is behind the finished trials'"
                " median %.4f",
                epoch + 1,
                self.objective,
                self.best,
                median,
            )
