"""The shared record of what the elastic callbacks changed during training, and why.

Every adaptation (a learning-rate cut, the end of warm-up, restored weights, later a
regularisation change or an unfrozen layer) is one event, so a run can be explained
from its history.json and run_summary.json instead of from the logs. `epoch` is the
0-based Keras epoch (an index into the history lists), `step` the number of training
batches run so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Value = float | int | str | None


@dataclass
class EventLog:
    """Events in the order they happened, as JSON-ready dicts."""

    events: list[dict] = field(default_factory=list)

    def record(
        self,
        *,
        epoch: int,
        step: int,
        callback: str,
        what: str,
        from_value: Value,
        to_value: Value,
        why: str,
    ) -> dict:
        event = {
            "epoch": int(epoch),
            "step": int(step),
            "callback": callback,
            "what": what,
            "from": _plain(from_value),
            "to": _plain(to_value),
            "why": why,
        }
        self.events.append(event)
        return event


def _plain(value: Value) -> Value:
    """numpy and TF scalars become Python numbers so the event dumps as JSON."""
    if value is None or isinstance(value, str | int):
        return value
    return float(value)
