"""A learning rate that warms up, then is cut when the monitored metric stops improving.

It replaces Keras' ReduceLROnPlateau so that each change is recorded as an event with
its reason, the cooldown counts exactly `cooldown` epochs, a cut can fall back to the
best epoch's weights, and the counters can be saved and restored for a resumed run.
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from aet.components.elastic.events import EventLog
from aet.components.elastic.plateau import improves
from aet.components.elastic.state import ResumableState
from aet.components.elastic.weights import in_stable_order

CALLBACK_NAME = "ElasticLearningRate"


class ElasticLearningRate(ResumableState, tf.keras.callbacks.Callback):
    """Linear warm-up over the first `warmup_steps` batches, then plateau cuts per epoch.

    Warm-up sets the rate of batch s (0-based) to rate * (s + 1) / warmup_steps, so the
    last warm-up batch trains at the full rate. After `patience` epochs without an
    improvement of more than `min_delta` the rate is multiplied by `factor` (never below
    `min_rate`); the `cooldown` epochs after a cut are not counted. A cut during warm-up
    lowers the rate the warm-up is heading for. Its counters and the remembered best
    weights are its resumable state.
    """

    STATE_KEYS = ("best", "best_epoch", "wait", "cooldown_left", "rate", "step", "warmup_done")
    ARRAY_KEYS = ("best_weights",)

    def __init__(
        self,
        monitor: str,
        mode: str,
        base_rate: float,
        warmup_steps: int = 0,
        factor: float = 0.5,
        patience: int = 3,
        cooldown: int = 0,
        min_rate: float = 1e-5,
        restore_best_on_cut: bool = False,
        min_delta: float = 1e-4,
        events: EventLog | None = None,
    ) -> None:
        super().__init__()
        # It reads no batch logs, so Keras need not copy them to the host every step.
        self._supports_tf_logs = True
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.base_rate = float(base_rate)
        self.warmup_steps = warmup_steps
        self.factor = factor
        self.patience = patience
        self.cooldown = cooldown
        self.min_rate = min_rate
        self.restore_best_on_cut = restore_best_on_cut
        self.min_delta = min_delta
        self.events = events if events is not None else EventLog()
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0
        self.cooldown_left = 0
        self.rate = self.base_rate
        self.step = 0
        self.warmup_done = warmup_steps == 0
        self._epoch = 0

    # --- Keras hooks --------------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.warmup_done:
            self._set_rate(self.rate)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.warmup_done:
            return
        self._set_rate(self.rate * (self.step + 1) / self.warmup_steps)
        if self.step + 1 >= self.warmup_steps:
            self.warmup_done = True
            self._record(
                "learning_rate",
                self.rate / self.warmup_steps,
                self.rate,
                f"linear warm-up over {self.warmup_steps} steps finished",
                step=self.step + 1,
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        self._epoch = epoch
        logs["learning_rate"] = self._current_rate()
        current = logs.get(self.monitor)
        if current is None:
            logging.warning(
                "%s: '%s' is not in the epoch logs (%s); the rate is not adapted",
                CALLBACK_NAME,
                self.monitor,
                sorted(logs),
            )
            return
        current = float(current)
        in_cooldown = self.cooldown_left > 0
        if in_cooldown:
            self.cooldown_left -= 1
        if improves(current, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_on_cut:
                with in_stable_order(self.model):
                    self.best_weights = self.model.get_weights()
        elif not in_cooldown:
            self.wait += 1
            if self.wait >= self.patience:
                self._cut()

    # --- adaptations --------------------------------------------------------------------

    def _cut(self) -> None:
        waited, self.wait = self.wait, 0
        if self.rate <= self.min_rate:
            return
        new_rate = max(self.rate * self.factor, self.min_rate)
        self._record(
            "learning_rate",
            self.rate,
            new_rate,
            f"{self.monitor} did not improve for {waited} epochs "
            f"(best {self.best:.4g} at epoch {self.best_epoch})",
        )
        self.rate = new_rate
        self.cooldown_left = self.cooldown
        if self.warmup_done:
            self._set_rate(new_rate)
        if self.restore_best_on_cut and self.best_weights is not None:
            with in_stable_order(self.model):
                self.model.set_weights(self.best_weights)
            self._record(
                "weights",
                self._epoch,
                self.best_epoch,
                f"restored the weights of epoch {self.best_epoch} "
                f"({self.monitor} {self.best:.4g}) at the learning-rate cut",
            )

    def _current_rate(self) -> float:
        return float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))

    def _set_rate(self, rate: float) -> None:
        self.model.optimizer.learning_rate = rate

    def _record(
        self, what: str, from_value: object, to_value: object, why: str, step: int | None = None
    ) -> None:
        self.events.record(
            epoch=self._epoch,
            step=self.step if step is None else step,
            callback=CALLBACK_NAME,
            what=what,
            from_value=from_value,
            to_value=to_value,
            why=why,
        )
