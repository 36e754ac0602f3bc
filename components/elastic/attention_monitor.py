"""Attention entropy per layer and head, so a collapsing attention is visible.

Keras does not expose attention weights of a functional model after `fit`, so at the
end of each epoch the monitor runs a fixed probe batch up to the input of every
TransformerBlock and asks that block's attention for its weights. The entropy of each
query's attention distribution, averaged over queries and examples and divided by
log(number of keys), is 0 when every query looks at a single token and 1 when it
looks at all tokens equally: both ends mean the head has stopped discriminating.
"""

from __future__ import annotations

import math

import tensorflow as tf

from aet.components.attention import transformer_blocks
from aet.components.elastic.events import EventLog
from aet.components.elastic.state import ResumableState

HYSTERESIS = 0.01


def normalised_entropy(scores: tf.Tensor) -> tf.Tensor:
    """[batch, heads, queries, keys] attention weights -> [heads] entropies in [0, 1]."""
    keys = scores.shape[-1]
    entropy = -tf.reduce_sum(scores * tf.math.log(scores + 1e-12), axis=-1)
    return tf.reduce_mean(entropy, axis=[0, 2]) / math.log(keys)


def attention_entropies(
    model: tf.keras.Model, probe: dict[str, tf.Tensor] | tf.Tensor
) -> dict[str, list[float]]:
    """Block name -> per-head normalised entropy on the probe batch."""
    blocks = transformer_blocks(model)
    if not blocks:
        return {}
    to_blocks = tf.keras.Model(model.input, [block.input for block in blocks])
    block_inputs = to_blocks(probe, training=False)
    if len(blocks) == 1:
        block_inputs = [block_inputs]
    entropies = {}
    for block, block_input in zip(blocks, block_inputs, strict=True):
        _, scores = block.attend(block_input, training=False)
        entropies[block.name] = [float(value) for value in normalised_entropy(scores)]
    return entropies


class AttentionMonitor(ResumableState, tf.keras.callbacks.Callback):
    """Adds `attention_entropy/<block>/head<i>` to each epoch's logs, where the History,
    CSVLogger and TensorBoard callbacks that follow it pick them up, and records an event
    when a head's entropy leaves [collapse_below, uniform_above] and when it comes back.
    The raised alarms are its resumable state, so a resumed run does not repeat them."""

    STATE_KEYS = ("alarms",)

    def __init__(
        self,
        probe: dict[str, tf.Tensor] | tf.Tensor,
        events: EventLog,
        collapse_below: float = 0.05,
        uniform_above: float = 0.98,
    ) -> None:
        super().__init__()
        self.probe = probe
        self.events = events
        self.collapse_below = collapse_below
        self.uniform_above = uniform_above
        self.alarms: dict[str, str | None] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        for block, heads in attention_entropies(self.model, self.probe).items():
            for head, entropy in enumerate(heads):
                head_name = f"{block}/head{head}"
                logs[f"attention_entropy/{head_name}"] = entropy
                previous = self.alarms.get(head_name)
                alarm = self._alarm(entropy, previous)
                if alarm != previous:
                    self.alarms[head_name] = alarm
                    self.events.record(
                        epoch=epoch,
                        step=int(self.model.optimizer.iterations.numpy()),
                        callback=type(self).__name__,
                        what=head_name,
                        from_value=None,
                        to_value=round(entropy, 4),
                        why=self._explain(alarm, entropy),
                    )

    def _alarm(self, entropy: float, previous: str | None) -> str | None:
        """'collapsed', 'uniform' or None. A raised alarm holds until the entropy is
        `HYSTERESIS` back inside the range, so a head hovering at a bound is one event."""
        margin = HYSTERESIS if previous else 0.0
        if entropy < self.collapse_below + margin:
            return "collapsed"
        if entropy > self.uniform_above - margin:
            return "uniform"
        return None

    def _explain(self, alarm: str | None, entropy: float) -> str:
        if alarm == "collapsed":
            return (
                f"attention collapsed onto one token "
                f"(entropy {entropy:.3f} < {self.collapse_below})"
            )
        if alarm == "uniform":
            return f"attention is near uniform (entropy {entropy:.3f} > {self.uniform_above})"
        return f"attention entropy back in range ({entropy:.3f})"
