"""Item histories in Transform: each history's `max_length` most recent items mapped
through an item vocabulary of the training split (ordered by frequency) to ids where 0
pads and the last id is out of vocabulary, the target's id, and the user's index."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.features import transformed_name
from aet.components.preprocessing import NUM_OOV_BUCKETS, dense
from aet.config import SequenceConfig
from aet.config.contract import HISTORY_ITEMS, TARGET_ITEM, USER_ID

ITEM_VOCABULARY = "items"
ITEM_COUNTS = "item_counts"  # the same items with their training-split frequencies
USER_VOCABULARY = "users"


def sequence_features(inputs: dict, sequence: SequenceConfig) -> dict:
    """Item ids of each history's most recent items, left-aligned and padded with 0 (so
    a causal model's real positions never see padding), the target's id, and the user's
    index. Items are counted over histories and targets of the training split: every
    training interaction once, none of the held-out targets."""
    history = inputs[HISTORY_ITEMS]
    target = tf.reshape(dense(inputs[TARGET_ITEM], ""), [-1])
    interactions = tf.concat([history.values, target], axis=0)
    vocabulary = tft.vocabulary(interactions, vocab_filename=ITEM_VOCABULARY)
    tft.vocabulary(interactions, vocab_filename=ITEM_COUNTS, store_frequency=True)

    def item_ids(items: tf.Tensor) -> tf.Tensor:
        return tft.apply_vocabulary(items, vocabulary, num_oov_buckets=NUM_OOV_BUCKETS) + 1

    history_ids = tf.RaggedTensor.from_sparse(
        tf.SparseTensor(history.indices, item_ids(history.values), history.dense_shape)
    )
    recent = history_ids[:, -sequence.max_length :]
    return {
        transformed_name(HISTORY_ITEMS): recent.to_tensor(
            default_value=0, shape=[None, sequence.max_length]
        ),
        transformed_name(TARGET_ITEM): item_ids(target),
        transformed_name(USER_ID): tft.compute_and_apply_vocabulary(
            dense(inputs[USER_ID], ""),
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=USER_VOCABULARY,
        ),
    }
