"""Keras' EarlyStopping with its counters and best weights saved for a resumed run."""

from __future__ import annotations

import tensorflow as tf

from aet.components.elastic.state import ResumableState
from aet.components.elastic.weights import in_stable_order


class ResumableEarlyStopping(ResumableState, tf.keras.callbacks.EarlyStopping):
    """Keras resets `wait`, `best` and `best_weights` when training begins; once its
    state has been restored from a checkpoint, that reset is skipped, so a resumed run
    stops at the epoch the uninterrupted one would have."""

    STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch")
    ARRAY_KEYS = ("best_weights",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._restored = False

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self._restored = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self._restored:
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keras' own step, with the best weights taken and restored in one order
        whichever unfreezing stage the model is in (components/elastic/weights.py)."""
        with in_stable_order(self.model):
            super().on_epoch_end(epoch, logs)
