"""Why a recommender recommended an item: which of the user's history items raised
that item's score, by gradient x input on the history's item embeddings, and, for
comparison in the faithfulness benchmark, the attention the last position pays to
each earlier one.

Gradient x input is item-specific (each recommended item gets its own reasons) and is
the first-order share of the item's score each history embedding carries; attention
is one distribution per history, the same for every item recommended from it.
"""

from __future__ import annotations

import tensorflow as tf

from aet.components.attention import last_block_attention
from aet.components.models.sasrec import ITEM_EMBEDDING, SequentialRecommender, history_lengths


class HistoryExplainer:
    """Contributions of each history position to item scores of one SequentialRecommender."""

    def __init__(self, model: SequentialRecommender) -> None:
        self.model = model
        history = model.input[model.history_input]
        embedded = model.get_layer(ITEM_EMBEDDING).output
        self.embed = tf.keras.Model(history, embedded)
        # Keras builds a model from an intermediate tensor by cloning the graph after it;
        # the ids still come in for what reads them directly (the padding mask).
        self.from_embedded = tf.keras.Model([history, embedded], model.output)

    def contributions(self, history: tf.Tensor, items: tf.Tensor) -> tf.Tensor:
        """[batch, k, positions]: gradient x input of each of `items`' ([batch, k] ids)
        scores with respect to each history position's embedding (0 at padding)."""
        embedded = self.embed(history, training=False)
        last = tf.maximum(history_lengths(history) - 1, 0)
        targets = tf.gather(self.model.item_embeddings, items)  # [batch, k, width]
        with tf.GradientTape() as tape:
            tape.watch(embedded)
            states = self.from_embedded([history, embedded], training=False)
            final = tf.gather(states, last, batch_dims=1)
            scores = tf.einsum("bd,bkd->bk", final, targets)
        jacobian = tape.batch_jacobian(scores, embedded)  # [batch, k, positions, width]
        by_position = tf.reduce_sum(jacobian * embedded[:, tf.newaxis], axis=-1)
        real = tf.cast(history > 0, by_position.dtype)[:, tf.newaxis, :]
        return by_position * real

    def last_attention(self, history: tf.Tensor) -> tf.Tensor:
        """[batch, positions]: the last real position's attention over the history in
        the last transformer block, averaged over heads."""
        scores = last_block_attention(self.model, {self.model.history_input: history})
        last = tf.maximum(history_lengths(history) - 1, 0)
        return tf.gather(tf.reduce_mean(scores, axis=1), last, axis=1, batch_dims=1)


def top_reasons(
    contributions: tf.Tensor, history: tf.Tensor, names: tf.Tensor, count: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """([batch, k, count] item names, their contributions): per recommended item the
    `count` history items that raised its score most; '' and 0 where fewer did."""
    count = tf.minimum(count, tf.shape(history)[1])
    best = tf.math.top_k(contributions, k=count)
    raised = best.values > 0
    ids = tf.gather(history, best.indices, batch_dims=1)  # [batch, k, count]
    return (
        tf.where(raised, tf.gather(names, ids), b""),
        tf.where(raised, best.values, 0.0),
    )
