"""Regularisation that follows the generalisation gap: more dropout when the model
starts to overfit, less when it underfits.

The gap is measured on a metric Keras computes unweighted on both splits (AUC,
accuracy) or on the loss; with class weights the training loss is weighted and the
validation loss is not, so a loss gap would measure the weighting, not overfitting.
Rates live in VariableDropout layers, so a change needs no recompile and keeps the
optimizer state.
"""

from __future__ import annotations

import tensorflow as tf

from components.elastic.events import EventLog
from components.layers import VariableDropout

CALLBACK_NAME = "ElasticRegularisation"
_STATE_KEYS = ("over", "under")


def variable_dropouts(model: tf.keras.Model) -> list[VariableDropout]:
    """Every VariableDropout in the model, nested layers included."""
    return [module for module in model.submodules if isinstance(module, VariableDropout)]


class ElasticRegularisation(tf.keras.callbacks.Callback):
    """After `patience` epochs with a gap above `widen_above`, raise every dropout rate by
    `step` (up to `max_rate`); after `patience` epochs below `narrow_below`, lower it by
    `step` (down to `min_rate`). The gap is train minus validation for a metric that
    grows (auc), validation minus train for one that falls (loss). All the model's
    VariableDropout layers move together: the config gives them one rate."""

    def __init__(
        self,
        metric: str,
        events: EventLog,
        widen_above: float = 0.05,
        narrow_below: float = 0.0,
        patience: int = 2,
        step: float = 0.05,
        min_rate: float = 0.0,
        max_rate: float = 0.5,
    ) -> None:
        super().__init__()
        self.metric = metric
        self.events = events
        self.widen_above = widen_above
        self.narrow_below = narrow_below
        self.patience = patience
        self.step = step
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.over = 0
        self.under = 0

    def get_state(self) -> dict:
        """The counters; the rates themselves are saved with the model's weights."""
        return {key: getattr(self, key) for key in _STATE_KEYS}

    def set_state(self, state: dict) -> None:
        for key in _STATE_KEYS:
            setattr(self, key, state[key])

    def gap(self, logs: dict) -> float | None:
        train, validation = logs.get(self.metric), logs.get(f"val_{self.metric}")
        if train is None or validation is None:
            return None
        if self.metric.endswith("loss"):
            return float(validation) - float(train)
        return float(train) - float(validation)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        gap = self.gap(logs)
        layers = variable_dropouts(self.model)
        if gap is None or not layers:
            return
        rate = float(layers[0].rate_variable.numpy())
        logs["dropout_rate"] = rate
        self.over = self.over + 1 if gap > self.widen_above else 0
        self.under = self.under + 1 if gap < self.narrow_below else 0
        if self.over >= self.patience:
            self.over = 0
            self._set(layers, epoch, rate, min(rate + self.step, self.max_rate), gap, "above")
        elif self.under >= self.patience:
            self.under = 0
            self._set(layers, epoch, rate, max(rate - self.step, self.min_rate), gap, "below")

    def _set(
        self,
        layers: list[VariableDropout],
        epoch: int,
        rate: float,
        new_rate: float,
        gap: float,
        side: str,
    ) -> None:
        if abs(new_rate - rate) < 1e-9:
            return
        for layer in layers:
            layer.rate_variable.assign(new_rate)
        bound = self.widen_above if side == "above" else self.narrow_below
        self.events.record(
            epoch=epoch,
            step=int(self.model.optimizer.iterations.numpy()),
            callback=CALLBACK_NAME,
            what="dropout_rate",
            from_value=round(rate, 6),
            to_value=round(new_rate, 6),
            why=f"{self.metric} gap {gap:.4f} {side} {bound} for {self.patience} epochs",
        )
