"""Regularisation that follows the generalisation gap: more dropout when the model
starts to overfit, less when it underfits.

The gap is measured on a metric Keras computes unweighted on both splits (AUC,
accuracy) or on the loss; with class weights the training loss is weighted and the
validation loss is not, so a loss gap would measure the weighting, not overfitting.
Rates live in VariableDropout layers and the weight decay in AdamWVariableDecay, so a
change needs no recompile and keeps the optimizer state.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.elastic.events import EventLog
from aet.components.elastic.state import ResumableState
from aet.components.layers import VariableDropout
from aet.config.metrics import direction_of

CALLBACK_NAME = "ElasticRegularisation"


def variable_dropouts(model: tf.keras.Model) -> list[VariableDropout]:
    """Every VariableDropout in the model, nested layers included."""
    return [module for module in model.submodules if isinstance(module, VariableDropout)]


def _changes(old: float, new: float) -> bool:
    """Whether `new` differs from `old` as the float32 variable stores them (0.1 read
    back from float32 is 0.10000000149, which is not a change from a 0.1 bound)."""
    return bool(np.float32(old) != np.float32(new))


class ElasticRegularisation(ResumableState, tf.keras.callbacks.Callback):
    """After `patience` epochs with a gap above `widen_above`, regularise more: every
    dropout rate up by `step` (to at most `max_rate`) and, when `weight_decay_factor` > 1
    and the optimizer holds its decay in a variable (AdamWVariableDecay), the weight
    decay times that factor (to at most `max_weight_decay`). After `patience` epochs
    below `narrow_below`, the reverse, down to the minimums. The first `settle_epochs`
    are not judged: Keras' training metric averages over an epoch in which the model
    still changes fast, and dropout depresses it too, so early on the gap is negative
    whatever the fit; for the same reason `narrow_below` sits below zero. The gap is train minus
    validation for a metric that grows (auc), validation minus train for one that falls
    (loss). All the model's VariableDropout layers move together: the config gives them
    one rate. The epoch counters are its resumable state; the rates are saved with the
    model and optimizer."""

    STATE_KEYS = ("over", "under")

    def __init__(
        self,
        metric: str,
        events: EventLog,
        widen_above: float = 0.05,
        narrow_below: float = -0.03,
        patience: int = 2,
        settle_epochs: int = 5,
        step: float = 0.05,
        min_rate: float = 0.0,
        max_rate: float = 0.5,
        weight_decay_factor: float = 1.0,
        min_weight_decay: float = 0.0,
        max_weight_decay: float = 0.1,
    ) -> None:
        super().__init__()
        self.metric = metric
        self.events = events
        self.widen_above = widen_above
        self.narrow_below = narrow_below
        self.patience = patience
        self.settle_epochs = settle_epochs
        self.step = step
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.weight_decay_factor = weight_decay_factor
        self.min_weight_decay = min_weight_decay
        self.max_weight_decay = max_weight_decay
        self.over = 0
        self.under = 0

    def gap(self, logs: dict) -> float | None:
        train, validation = logs.get(self.metric), logs.get(f"val_{self.metric}")
        if train is None or validation is None:
            return None
        if direction_of(self.metric) == "lower_is_better":
            return float(validation) - float(train)
        return float(train) - float(validation)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        gap = self.gap(logs)
        if gap is None:
            return
        layers = variable_dropouts(self.model)
        decay = self._decay_variable()
        if layers:
            logs["dropout_rate"] = float(layers[0].rate_variable.numpy())
        if decay is not None:
            logs["weight_decay"] = float(decay.numpy())
        if epoch < self.settle_epochs:
            return
        self.over = self.over + 1 if gap > self.widen_above else 0
        self.under = self.under + 1 if gap < self.narrow_below else 0
        if self.over >= self.patience:
            self.over = 0
            why = f"{self.metric} gap {gap:.4f} above {self.widen_above} for {self.patience} epochs"
            self._adapt(epoch, layers, decay, raise_it=True, why=why)
        elif self.under >= self.patience:
            self.under = 0
            why = (
                f"{self.metric} gap {gap:.4f} below {self.narrow_below} for {self.patience} epochs"
            )
            self._adapt(epoch, layers, decay, raise_it=False, why=why)

    def _decay_variable(self) -> tf.Variable | None:
        decay = getattr(self.model.optimizer, "weight_decay", None)
        if self.weight_decay_factor > 1 and isinstance(decay, tf.Variable):
            return decay
        return None

    def _adapt(
        self,
        epoch: int,
        layers: list[VariableDropout],
        decay: tf.Variable | None,
        raise_it: bool,
        why: str,
    ) -> None:
        if layers:
            rate = float(layers[0].rate_variable.numpy())
            new_rate = (
                min(rate + self.step, self.max_rate)
                if raise_it
                else max(rate - self.step, self.min_rate)
            )
            if _changes(rate, new_rate):
                for layer in layers:
                    layer.rate_variable.assign(new_rate)
                self._record(epoch, "dropout_rate", rate, new_rate, why)
        if decay is not None:
            value = float(decay.numpy())
            new_value = (
                min(value * self.weight_decay_factor, self.max_weight_decay)
                if raise_it
                else max(value / self.weight_decay_factor, self.min_weight_decay)
            )
            if _changes(value, new_value):
                decay.assign(new_value)
                self._record(epoch, "weight_decay", value, new_value, why)

    def _record(self, epoch: int, what: str, old: float, new: float, why: str) -> None:
        self.events.record(
            epoch=epoch,
            step=int(self.model.optimizer.iterations.numpy()),
            callback=CALLBACK_NAME,
            what=what,
            from_value=round(old, 8),
            to_value=round(new, 8),
            why=why,
        )
