"""Keras' EarlyStopping with its counters and best weights saved for a resumed run."""

from __future__ import annotations

import tensorflow as tf

from aet.components.elastic.state import ResumableState


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
