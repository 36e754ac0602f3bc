"""A self-attentive sequential recommender in the manner of SASRec (Kang & McAuley 2018).

A user's most recent items, left-aligned with 0 as padding (components/preprocessing.py),
are embedded with a learned position embedding and run through causal TransformerBlocks,
so the state at each position has seen only that item and the ones before it. The state
at position t is scored against every item's embedding, the same table the input uses
(shared embeddings), to predict the item at t + 1. Padding sits after the real items, so
causal attention never lets a real position see it and no padding mask is needed.

Training predicts the next item at every position of every history with a sampled
softmax (TF's `sampled_softmax_loss`: negatives drawn log-uniformly, which suits ids
ordered by frequency as TFT's vocabulary orders them, with the logQ correction), or a
full softmax when `sampled_softmax` is 0. Validation ranks the whole catalogue for the
history's last position, as the Evaluator will, and reports loss, HR@k and NDCG@k.
"""

from __future__ import annotations

import math

import tensorflow as tf

from aet.components.attention import PositionEmbedding, transformer_encoder
from aet.components.layers import VariableDropout
from aet.components.ranking_metrics import MASKED_SCORE, HitRate, NDCGAtCutoff
from aet.config import ModelConfig

ITEM_EMBEDDING = "item_embedding"


def history_lengths(history: tf.Tensor) -> tf.Tensor:
    """[batch, positions] left-aligned ids, 0-padded -> [batch] number of real items."""
    return tf.reduce_sum(tf.cast(history > 0, tf.int32), axis=1)


def next_item_labels(history: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """What each position of `history` should predict: the item after it, and the target
    after the last real one; 0 (no label) at padding. [batch, positions] like `history`."""
    history = tf.cast(history, tf.int64)
    shifted = tf.concat([history[:, 1:], tf.zeros_like(history[:, :1])], axis=1)
    last = history_lengths(history) - 1
    positions = tf.range(tf.shape(history)[1])[tf.newaxis, :]
    return tf.where(
        positions == last[:, tf.newaxis],
        tf.reshape(tf.cast(target, tf.int64), [-1, 1]),
        shifted,
    )


def mask_items(scores: tf.Tensor, item_ids: tf.Tensor | None = None) -> tf.Tensor:
    """[batch, ids] scores with the padding id, the out-of-vocabulary id (the last) and,
    per row, `item_ids` ([batch, n], 0-padded) set to MASKED_SCORE: never recommended,
    and not ranked by the metrics."""
    num_ids = tf.shape(scores)[1]
    ids = tf.range(num_ids)
    never = tf.logical_or(ids == 0, ids == num_ids - 1)[tf.newaxis, :]
    scores = tf.where(never, tf.cast(MASKED_SCORE, scores.dtype), scores)
    if item_ids is None:
        return scores
    item_ids = tf.cast(item_ids, tf.int32)
    rows = tf.repeat(tf.range(tf.shape(item_ids)[0]), tf.shape(item_ids)[1])
    indices = tf.stack([rows, tf.reshape(item_ids, [-1])], axis=1)
    masked = tf.fill([tf.shape(indices)[0]], tf.cast(MASKED_SCORE, scores.dtype))
    return tf.tensor_scatter_nd_update(scores, indices, masked)


@tf.keras.utils.register_keras_serializable(package="aet")
class SequentialRecommender(tf.keras.Model):
    """A functional model from item histories to per-position states, with the SASRec
    training step (sampled softmax over next items) and a full-ranking validation step.

    Its config is the functional graph's plus the settings, so Keras (and TFMA, which
    loads the exported model with Keras) revives it from a SavedModel.
    """

    def __init__(
        self,
        *args,
        sampled_softmax: int = 0,
        cutoff: int = 10,
        exclude_seen: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sampled_softmax = sampled_softmax
        self.exclude_seen = exclude_seen
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.hit_rate = HitRate(cutoff=cutoff, name="hit_rate")
        self.ndcg = NDCGAtCutoff(cutoff=cutoff, name="ndcg")

    def get_config(self) -> dict:
        return {
            **tf.keras.Model(self.input, self.output, name=self.name).get_config(),
            "sampled_softmax": self.sampled_softmax,
            "cutoff": self.hit_rate.cutoff,
            "exclude_seen": self.exclude_seen,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        settings = {key: config.pop(key) for key in ("sampled_softmax", "cutoff", "exclude_seen")}
        graph = tf.keras.Model.from_config(config, custom_objects)
        return cls(inputs=graph.input, outputs=graph.output, name=graph.name, **settings)

    @property
    def metrics(self) -> list[tf.keras.metrics.Metric]:
        return [self.loss_tracker, self.hit_rate, self.ndcg]

    @property
    def history_input(self) -> str:
        (name,) = self.input.keys()
        return name

    @property
    def item_embeddings(self) -> tf.Variable:
        return self.get_layer(ITEM_EMBEDDING).embeddings

    def item_scores(self, history: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[batch, ids] unmasked scores of every item id as the next one after `history`."""
        states = self({self.history_input: history}, training=training)
        last = tf.maximum(history_lengths(history) - 1, 0)
        return tf.matmul(
            tf.gather(states, last, batch_dims=1), self.item_embeddings, transpose_b=True
        )

    def _next_item_loss(self, states: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        positions = labels > 0
        states = tf.boolean_mask(states, positions)
        targets = tf.boolean_mask(labels, positions)
        num_ids = self.item_embeddings.shape[0]
        if 0 < self.sampled_softmax < num_ids - 1:
            losses = tf.nn.sampled_softmax_loss(
                weights=self.item_embeddings,
                biases=tf.zeros([num_ids]),
                labels=tf.reshape(targets, [-1, 1]),
                inputs=states,
                num_sampled=self.sampled_softmax,
                num_classes=num_ids,
            )
        else:
            logits = tf.matmul(states, self.item_embeddings, transpose_b=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        return tf.reduce_mean(losses)

    def train_step(self, data: tuple) -> dict:
        inputs, labels = data
        with tf.GradientTape() as tape:
            states = self(inputs, training=True)
            loss = self._next_item_loss(states, tf.cast(labels, tf.int64))
            if self.losses:
                loss += tf.add_n(self.losses)
            # Gradients are summed over replicas: each contributes its share of the mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        self.optimizer.minimize(scaled, self.trainable_variables, tape=tape)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data: tuple) -> dict:
        inputs, labels = data
        history = inputs[self.history_input]
        target = tf.gather(
            tf.cast(labels, tf.int64), tf.maximum(history_lengths(history) - 1, 0), batch_dims=1
        )
        scores = mask_items(self.item_scores(history), history if self.exclude_seen else None)
        # A target the model cannot name (an item first seen after training) is a miss
        # for the metrics, but has no finite loss: the loss averages the others.
        rankable = tf.gather(scores, target, batch_dims=1) > MASKED_SCORE / 2
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(target, scores)
        self.loss_tracker.update_state(tf.boolean_mask(losses, rankable))
        self.hit_rate.update_state(target, scores)
        self.ndcg.update_state(target, scores)
        return {metric.name: metric.result() for metric in self.metrics}


def build_sasrec(
    config: ModelConfig,
    num_item_ids: int,
    max_length: int,
    input_name: str,
    sampled_softmax: int = 0,
    cutoff: int = 10,
    exclude_seen: bool = True,
) -> SequentialRecommender:
    """The recommender (not compiled) over [batch, max_length] item ids named
    `input_name`; ids run from 0 (padding) to num_item_ids - 1 (out of vocabulary)."""
    history = tf.keras.Input((max_length,), dtype=tf.int64, name=input_name)
    embedding = tf.keras.layers.Embedding(num_item_ids, config.embedding_dim, name=ITEM_EMBEDDING)
    tokens = embedding(history) * math.sqrt(config.embedding_dim)
    tokens = PositionEmbedding(name="positions")(tokens)
    real = tf.cast(history > 0, tokens.dtype)[:, :, tf.newaxis]
    tokens = VariableDropout(config.dropout, name="token_dropout")(tokens * real)
    states = transformer_encoder(tokens, config, causal=True)
    states = tf.keras.layers.LayerNormalization(epsilon=1e-6, name="output_norm")(states)
    return SequentialRecommender(
        inputs={input_name: history},
        outputs=states,
        name="sasrec",
        sampled_softmax=sampled_softmax,
        cutoff=cutoff,
        exclude_seen=exclude_seen,
    )
