"""Progressive unfreezing for a model warm-started from the last blessed one: the head
trains first, then earlier groups of layers join it one stage at a time.

Layers are grouped around the model's transformer blocks, head first: everything after
the last block, each block from the last to the first, then everything before the
first block (tokenizers, embeddings). Stage s trains groups 0..s. A stage ends after
`every_epochs` epochs, or, on the plateau schedule, after `patience` epochs without
an improvement of the monitored metric. Changing which layers train only retraces the
training step: the optimizer, and so its state, is the same object throughout.
"""

from __future__ import annotations

import math

import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.elastic.events import EventLog
from aet.components.elastic.plateau import improves
from aet.components.elastic.state import ResumableState

CALLBACK_NAME = "ProgressiveUnfreezing"
# The epoch-log entry holding the stage each epoch trained at (read by early stopping).
STAGE_LOG = "unfreezing_stage"


def unfreezing_groups(model: tf.keras.Model) -> list[list[tf.keras.layers.Layer]]:
    """The model's layers with weights in unfreezing order (head first); empty groups
    are dropped. A model without transformer blocks is one group."""
    layers = [layer for layer in model.layers if layer.weights]
    block_positions = [i for i, layer in enumerate(layers) if isinstance(layer, TransformerBlock)]
    if not block_positions:
        return [layers] if layers else []
    first, last = block_positions[0], block_positions[-1]
    groups = [layers[last + 1 :]]
    groups += [[layers[i]] for i in reversed(block_positions)]
    groups.append(layers[:first])
    return [group for group in groups if group]


class ProgressiveUnfreezing(ResumableState, tf.keras.callbacks.Callback):
    """Trains `groups[0]` alone, then adds one group per stage; writes the stage to the
    epoch logs and each unfreezing to the events. Its stage and counters are its
    resumable state."""

    STATE_KEYS = ("stage", "epochs_in_stage", "best", "wait")

    def __init__(
        self,
        groups: list[list[tf.keras.layers.Layer]],
        events: EventLog,
        schedule: str = "epochs",
        every_epochs: int = 2,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int = 2,
        min_delta: float = 1e-4,
    ) -> None:
        super().__init__()
        if schedule not in ("epochs", "plateau"):
            raise ValueError(f"schedule must be 'epochs' or 'plateau', got {schedule!r}")
        if not groups:
            raise ValueError("no layers to unfreeze")
        self.groups = groups
        self.events = events
        self.schedule = schedule
        self.every_epochs = every_epochs
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.stage = 0
        self.epochs_in_stage = 0
        self.best: float | None = None
        self.wait = 0

    @property
    def last_stage(self) -> int:
        return len(self.groups) - 1

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._apply()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        logs[STAGE_LOG] = self.stage
        self.epochs_in_stage += 1
        if self.stage == self.last_stage:
            return
        if self.schedule == "epochs":
            if self.epochs_in_stage >= self.every_epochs:
                self._advance(epoch, f"{self.epochs_in_stage} epochs at stage {self.stage}")
            return
        current = logs.get(self.monitor)
        if current is None or math.isnan(float(current)):
            return
        if improves(float(current), self.best, self.mode, self.min_delta):
            self.best, self.wait = float(current), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self._advance(
                epoch,
                f"{self.monitor} did not improve for {self.wait} epochs (best {self.best:.4g})",
            )

    def _advance(self, epoch: int, why: str) -> None:
        self.stage += 1
        self.epochs_in_stage, self.wait, self.best = 0, 0, None
        names = [layer.name for layer in self.groups[self.stage]]
        self.events.record(
            epoch=epoch,
            step=int(self.model.optimizer.iterations.numpy()),
            callback=CALLBACK_NAME,
            what="unfrozen_stage",
            from_value=self.stage - 1,
            to_value=self.stage,
            why=f"{why}; now also training {', '.join(names)}",
        )
        self._apply()

    def _apply(self) -> None:
        """Train groups 0..stage, freeze the rest, and retrace the training step so the
        change takes effect without recompiling."""
        for index, group in enumerate(self.groups):
            for layer in group:
                layer.trainable = index <= self.stage
        self.model.make_train_function(force=True)
