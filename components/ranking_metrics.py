"""Leave-last-out ranking metrics for a recommender, written as Keras metrics so that the
Trainer (during fit) and TFMA (as custom Keras metrics) score a model the same way.

Each row holds a user's held-out target item id and the model's scores for every id.
Ids that must not be recommended (padding, out-of-vocabulary, the user's history) carry
`MASKED_SCORE`. TFMA sums `get_weights()` across batches and workers before `result()`,
so every state here is an additive sum whose shape is fixed in `__init__`. TFMA passes the
labels as they are stored (one id per row, shape [B, 1]); it does not one-hot them. Give
TFMA configs a `name`: without one TFMA names a metric after its snake-cased class.
"""

from __future__ import annotations

import tensorflow as tf

MASKED_SCORE = -1e9


def _excluded(y_pred: tf.Tensor) -> tf.Tensor:
    """Scores at or below half of `MASKED_SCORE` mark ids that are not candidates; the
    margin keeps a masked score that picked up a model's small offset still masked."""
    return y_pred <= MASKED_SCORE / 2


def _sample_negatives(
    negatives: tf.Tensor, row_keys: tf.Tensor, sampled_negatives: int, seed: int
) -> tf.Tensor:
    """Keeps `sampled_negatives` of each row's eligible negatives, drawn uniformly without
    replacement (all of them when fewer exist): the first ones of a stateless shuffle
    seeded by `seed` and the row's key alone, so a row gets the same negatives in any
    batch."""

    def sample_row(row: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        negatives_row, key = row
        row_seed = tf.random.experimental.stateless_fold_in(key, seed, alg="philox")
        ids = tf.where(negatives_row)[:, 0]
        picked = tf.random.experimental.stateless_shuffle(ids, row_seed, alg="philox")
        picked = picked[:sampled_negatives]
        shape = tf.shape(negatives_row, out_type=tf.int64)
        return tf.scatter_nd(picked[:, None], tf.ones_like(picked, tf.bool), shape)

    return tf.map_fn(sample_row, (negatives, row_keys), fn_output_signature=tf.bool)


# Traced: TFMA calls metrics eagerly, where the per-row sampling loop runs ~50x slower.
@tf.function(reduce_retracing=True)
def target_ranks(
    y_true: tf.Tensor, y_pred: tf.Tensor, sampled_negatives: int = 0, seed: int = 0
) -> tf.Tensor:
    """0-based rank of each row's target among its candidates: the number of candidates
    scoring at least as high as the target. Ties count against the target, so a model
    that scores everything alike ranks last rather than first. A masked target is a miss
    (rank = number of ids).

    With `sampled_negatives == 0` the candidates are all non-excluded ids (full ranking);
    otherwise that many non-excluded, non-target ids drawn per row (the sampled protocol
    of most papers, usually 100). The draw is seeded by (`seed`, target id, number of
    excluded ids): the row's content, not its position, so the model, its baselines and
    reruns meet the same negatives however the rows are batched.
    """
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    num_scores = tf.shape(y_pred)[-1]
    targets = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    excluded = _excluded(y_pred)
    negatives = tf.logical_and(
        tf.logical_not(excluded), tf.logical_not(tf.one_hot(targets, num_scores) > 0)
    )
    if sampled_negatives:
        num_excluded = tf.reduce_sum(tf.cast(excluded, tf.int64), axis=1)
        row_keys = tf.stack([tf.cast(targets, tf.int64), num_excluded], axis=1)
        negatives = _sample_negatives(negatives, row_keys, sampled_negatives, seed)
    target_scores = tf.gather(y_pred, targets, batch_dims=1)
    beaten_by = tf.logical_and(negatives, y_pred >= target_scores[:, None])
    ranks = tf.reduce_sum(tf.cast(beaten_by, tf.int32), axis=1)
    return tf.where(tf.gather(excluded, targets, batch_dims=1), num_scores, ranks)


def _weights(sample_weight: tf.Tensor | None, rows: tf.Tensor) -> tf.Tensor:
    if sample_weight is None:
        return tf.ones(rows, tf.float32)
    return tf.reshape(tf.cast(sample_weight, tf.float32), [-1])


class _RankMetric(tf.keras.metrics.Metric):
    """Weighted mean of a per-row gain of the target's rank; the weighted gain and the
    weighted row count are kept apart so that TFMA can sum them across batches."""

    def __init__(self, cutoff: int, sampled_negatives: int, seed: int, name: str, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.cutoff = cutoff
        self.sampled_negatives = sampled_negatives
        self.seed = seed
        self.gain = self.add_weight("gain", shape=(), initializer="zeros")
        self.count = self.add_weight("count", shape=(), initializer="zeros")

    def _gain(self, ranks: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        ranks = target_ranks(y_true, y_pred, self.sampled_negatives, self.seed)
        weight = _weights(sample_weight, tf.shape(ranks))
        self.gain.assign_add(tf.reduce_sum(weight * self._gain(ranks)))
        self.count.assign_add(tf.reduce_sum(weight))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(self.gain, self.count)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "cutoff": self.cutoff,
            "sampled_negatives": self.sampled_negatives,
            "seed": self.seed,
        }


@tf.keras.utils.register_keras_serializable(package="aet")
class HitRate(_RankMetric):
    """HR@cutoff: the weighted share of rows whose target ranks within the top `cutoff`."""

    def __init__(
        self,
        cutoff: int = 10,
        sampled_negatives: int = 0,
        seed: int = 0,
        name: str = "hit_rate",
        **kwargs,
    ) -> None:
        super().__init__(cutoff, sampled_negatives, seed, name, **kwargs)

    def _gain(self, ranks: tf.Tensor) -> tf.Tensor:
        return tf.cast(ranks < self.cutoff, tf.float32)


@tf.keras.utils.register_keras_serializable(package="aet")
class NDCGAtCutoff(_RankMetric):
    """NDCG@cutoff with one relevant item per row: 1 / log2(rank + 2) within the top
    `cutoff`, else 0 (the ideal DCG is 1), averaged with the row weights. Not called
    `NDCG`: TFMA looks a MetricConfig's class name up in its own registry before the
    module, and would take its query-based NDCG."""

    def __init__(
        self,
        cutoff: int = 10,
        sampled_negatives: int = 0,
        seed: int = 0,
        name: str = "ndcg",
        **kwargs,
    ) -> None:
        super().__init__(cutoff, sampled_negatives, seed, name, **kwargs)

    def _gain(self, ranks: tf.Tensor) -> tf.Tensor:
        ranks = tf.cast(ranks, tf.float32)
        return tf.where(ranks < self.cutoff, tf.math.log(2.0) / tf.math.log(ranks + 2.0), 0.0)


@tf.keras.utils.register_keras_serializable(package="aet")
class CatalogueCoverage(tf.keras.metrics.Metric):
    """Share of the `num_items` catalogue that appears in some row's top `cutoff` (masked
    ids never count). The state is how often each of the `num_scores` ids was recommended,
    weighted by the rows' weights: a vector of fixed length that TFMA can sum, unlike a set.

    A model with another catalogue (the served model of an earlier span, judged beside
    the new one on the new span) scores another number of ids; ids from `num_scores` on
    are not counted, so its coverage is of the new catalogue, which it may not cover.
    """

    def __init__(
        self, num_scores: int, num_items: int, cutoff: int = 10, name: str = "coverage", **kwargs
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.num_scores = num_scores
        self.num_items = num_items
        self.cutoff = cutoff
        self.recommended = self.add_weight("recommended", shape=(num_scores,), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = tf.convert_to_tensor(y_pred, tf.float32)
        top = tf.math.top_k(y_pred, k=tf.minimum(self.cutoff, tf.shape(y_pred)[-1]))
        weight = _weights(sample_weight, tf.shape(y_pred)[:1])[:, None]
        counted = weight * tf.cast(tf.logical_not(_excluded(top.values)), tf.float32)
        # A negative segment id is dropped: the ids the new catalogue does not have.
        ids = tf.where(top.indices < self.num_scores, top.indices, -1)
        self.recommended.assign_add(tf.math.unsorted_segment_sum(counted, ids, self.num_scores))

    def reset_state(self) -> None:
        # Keras's default assigns a scalar zero, which a vector variable refuses.
        self.recommended.assign(tf.zeros_like(self.recommended))

    def result(self) -> tf.Tensor:
        covered = tf.math.count_nonzero(self.recommended > 0, dtype=tf.float32)
        return covered / self.num_items

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_scores": self.num_scores,
            "num_items": self.num_items,
            "cutoff": self.cutoff,
        }
