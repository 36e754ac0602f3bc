"""Keras' EarlyStopping with its counters and best weights saved for a resumed run, and
its patience counted within each unfreezing stage."""

from __future__ import annotations

import tensorflow as tf

from aet.components.elastic.state import ResumableState
from aet.components.elastic.unfreezing import STAGE_LOG
from aet.components.elastic.weights import in_stable_order


class ResumableEarlyStopping(ResumableState, tf.keras.callbacks.EarlyStopping):
    """Keras resets `wait`, `best` and `best_weights` when training begins; once its
    state has been restored from a checkpoint, that reset is skipped, so a resumed run
    stops at the epoch the uninterrupted one would have.

    A warm-started model that unfreezes in stages gains layers at each stage, so the
    epochs a smaller stage spent without improving say nothing about the larger one:
    the patience starts again at each stage's first epoch (the best epoch and weights
    are kept). Without it the head-only stages used up the patience, and a warm-started
    recommender stopped a few epochs after its embeddings joined."""

    STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch", "stage")
    ARRAY_KEYS = ("best_weights",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._restored = False
        self.stage: int | None = None

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self._restored = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self._restored:
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keras' own step, after a new stage's patience reset, with the best weights
        taken and restored in one order whichever unfreezing stage the model is in
        (components/elastic/weights.py)."""
        stage = (logs or {}).get(STAGE_LOG)
        if stage is not None and stage != self.stage:
            self.stage, self.wait = int(stage), 0
        with in_stable_order(self.model):
            super().on_epoch_end(epoch, logs)
