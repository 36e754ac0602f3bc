"""The two baselines a recommender has to beat, fitted on the same training split and
exported beside the model, so the Evaluator scores all three on the same test examples
with the same metric code.

- most popular: every user gets the items with the most training interactions;
- item-to-item co-occurrence: the items that, in training histories, followed the
  user's last `WINDOW` items within `WINDOW` positions, weighted by how often; ties (and
  users whose recent items never co-occurred) fall back to popularity.

No maintained library in the stack fits these on TFX's transformed examples, so they are
written here: a sparse count matrix (scipy) cut to each item's `NEIGHBOURS` strongest
followers, which keeps the exported table small for large catalogues.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from scipy import sparse
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from aet.components.features import transformed_name
from aet.components.models.sasrec import history_lengths
from aet.config.contract import HISTORY_ITEMS
from aet.kinds.interactions.transform import ITEM_COUNTS, ITEM_VOCABULARY

BASELINE_OUTPUTS = ("most_popular", "co_occurrence")
WINDOW = 3  # positions after an item that count as following it; recent items scored from
NEIGHBOURS = 100  # followers kept per item
POPULARITY_TIE_BREAK = 1e-3  # below one co-occurrence: only orders equal counts


@dataclass(frozen=True)
class Baselines:
    """Per item id (0 pads, the last is out of vocabulary): training-split counts, and
    each item's strongest followers with their co-occurrence counts."""

    popularity: np.ndarray  # [ids] float32
    followers: np.ndarray  # [ids, NEIGHBOURS] int64, 0 where fewer
    follower_counts: np.ndarray  # [ids, NEIGHBOURS] float32, 0 where fewer


def item_popularity(tf_transform_output: tft.TFTransformOutput) -> np.ndarray:
    """[ids] training interactions per item id, from the counts Transform stored."""
    vocabulary = tf_transform_output.vocabulary_by_name(ITEM_VOCABULARY)
    counts = {}
    with tf.io.gfile.GFile(tf_transform_output.vocabulary_file_by_name(ITEM_COUNTS)) as lines:
        for line in lines:
            count, item = line.rstrip("\n").split(" ", 1)
            counts[item.encode()] = float(count)
    return np.array([0.0, *(counts[item] for item in vocabulary), 0.0], np.float32)


def fit_followers(sequences: Iterable[np.ndarray], num_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Co-occurrence counts C[i, j]: how often j came within WINDOW positions after i in
    the (time-ordered, 0-padded) sequences, cut to each item's NEIGHBOURS largest."""
    rows, columns = [], []
    for sequence in sequences:
        sequence = sequence[sequence > 0]
        for offset in range(1, WINDOW + 1):
            rows.append(sequence[:-offset])
            columns.append(sequence[offset:])
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    column = np.concatenate(columns) if columns else np.zeros(0, np.int64)
    counts = sparse.coo_matrix(
        (np.ones(len(row), np.float32), (row, column)), shape=(num_ids, num_ids)
    ).tocsr()
    followers = np.zeros((num_ids, NEIGHBOURS), np.int64)
    follower_counts = np.zeros((num_ids, NEIGHBOURS), np.float32)
    for item in range(num_ids):
        start, end = counts.indptr[item], counts.indptr[item + 1]
        ids, values = counts.indices[start:end], counts.data[start:end]
        strongest = np.argsort(-values, kind="stable")[:NEIGHBOURS]
        followers[item, : len(strongest)] = ids[strongest]
        follower_counts[item, : len(strongest)] = values[strongest]
    return followers, follower_counts


def fit_baselines(
    tf_transform_output: tft.TFTransformOutput, sequences: Iterable[np.ndarray]
) -> Baselines:
    popularity = item_popularity(tf_transform_output)
    followers, follower_counts = fit_followers(sequences, len(popularity))
    return Baselines(popularity, followers, follower_counts)


def most_popular_scores(batch_size: tf.Tensor, baselines: Baselines) -> tf.Tensor:
    """[batch_size, ids] popularity scores in [0, 1], the same for every row."""
    popularity = tf.constant(baselines.popularity / max(baselines.popularity.max(), 1.0))
    return tf.tile(popularity[tf.newaxis, :], [batch_size, 1])


def baseline_scores(history: tf.Tensor, baselines: Baselines) -> dict[str, tf.Tensor]:
    """[batch, positions] left-aligned, 0-padded item ids -> {'most_popular',
    'co_occurrence'}: [batch, ids] scores (unmasked; mask them like the model's)."""
    batch = tf.shape(history)[0]
    most_popular = most_popular_scores(batch, baselines)
    recent = history_lengths(history)[:, tf.newaxis] - tf.range(1, WINDOW + 1)[tf.newaxis, :]
    recent_items = tf.where(
        recent >= 0,
        tf.gather(history, tf.maximum(recent, 0), batch_dims=1),
        tf.zeros_like(history[:, :1]),
    )  # [batch, WINDOW]
    followers = tf.gather(tf.constant(baselines.followers), recent_items)  # [batch, W, N]
    counts = tf.gather(tf.constant(baselines.follower_counts), recent_items)
    rows = tf.broadcast_to(tf.range(batch)[:, tf.newaxis, tf.newaxis], tf.shape(followers))
    indices = tf.stack([tf.reshape(rows, [-1]), tf.reshape(tf.cast(followers, tf.int32), [-1])], 1)
    co_occurrence = tf.tensor_scatter_nd_add(
        tf.zeros_like(most_popular), indices, tf.reshape(counts, [-1])
    )
    return {
        "most_popular": most_popular,
        "co_occurrence": co_occurrence + POPULARITY_TIE_BREAK * most_popular,
    }


def training_sequences(
    fn_args: FnArgs, tf_transform_output: tft.TFTransformOutput, target: str
) -> list[np.ndarray]:
    """Each training example's item ids, history then target (what a recommender's
    baselines are fitted on): one pass over the transformed training split."""
    dataset = fn_args.data_accessor.tf_dataset_factory(
        fn_args.train_files,
        tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1),
        tf_transform_output.transformed_metadata.schema,
    )
    history = transformed_name(HISTORY_ITEMS)
    sequences = []
    for batch in dataset:
        for items, last in zip(batch[history].numpy(), batch[target].numpy(), strict=True):
            sequences.append(np.append(items[items > 0], last))
    return sequences
