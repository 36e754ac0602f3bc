"""Transform on item histories, run by tensorflow_transform's Beam implementation as the
Transform component runs it: the item vocabulary is ordered by training frequency, ids
start at 1 (0 pads), histories keep their most recent items, and an item never seen in
training maps to the out-of-vocabulary id instead of failing."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

from aet.components.features import to_custom_config, transformed_name
from aet.config import DomainConfig
from aet.kinds.interactions.transform import ITEM_COUNTS, ITEM_VOCABULARY, USER_VOCABULARY

MAX_LENGTH = 3
CONFIG = {
    "name": "sequences",
    "data": {"format": "interactions", "default": "unused.csv"},
    "features": {"sequence": {"max_length": MAX_LENGTH}},
    "model": {"architecture": "sasrec"},
    "training": {"elastic": {"monitor": "val_ndcg"}},
    "evaluation": {"metrics": ["ndcg"], "thresholds": {"ndcg": {"lower": 0.0}}},
    "serving": {"model_name": "sequences"},
}
# a: 3 training interactions, b: 2, c, d, e: 1 each.
ROWS = [
    {"user_id": [b"u1"], "history_items": [b"a", b"b", b"c", b"d"], "target_item": [b"e"]},
    {"user_id": [b"u2"], "history_items": [b"a"], "target_item": [b"b"]},
    {"user_id": [b"u3"], "history_items": [], "target_item": [b"a"]},
]
SPEC = {
    "user_id": tf.io.FixedLenFeature([1], tf.string),
    "history_items": tf.io.VarLenFeature(tf.string),
    "target_item": tf.io.FixedLenFeature([1], tf.string),
}


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from aet.components.preprocessing import preprocessing_fn

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    work = tmp_path_factory.mktemp("sequence_transform")
    config = DomainConfig(**CONFIG)
    fn = functools.partial(preprocessing_fn, custom_config=to_custom_config(config))
    with tft_beam.Context(temp_dir=str(work / "tmp")):
        (transformed, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(work / "output"))
    return transformed, tft.TFTransformOutput(str(work / "output"))


def _ids(output) -> dict[str, int]:
    return {
        item.decode(): i + 1 for i, item in enumerate(output.vocabulary_by_name(ITEM_VOCABULARY))
    }


def test_item_vocabulary_is_ordered_by_training_frequency(sequence_run) -> None:
    _, output = sequence_run
    vocabulary = [item.decode() for item in output.vocabulary_by_name(ITEM_VOCABULARY)]
    assert vocabulary[:2] == ["a", "b"] and sorted(vocabulary[2:]) == ["c", "d", "e"]
    with tf.io.gfile.GFile(output.vocabulary_file_by_name(ITEM_COUNTS)) as lines:
        counts = dict(reversed(line.rstrip("\n").split(" ", 1)) for line in lines)
    assert counts == {"a": "3", "b": "2", "c": "1", "d": "1", "e": "1"}
    assert sorted(output.vocabulary_by_name(USER_VOCABULARY)) == [b"u1", b"u2", b"u3"]


def test_histories_keep_their_most_recent_items_left_aligned(sequence_run) -> None:
    transformed, output = sequence_run
    ids = _ids(output)
    history = [list(row[transformed_name("history_items")]) for row in transformed]
    assert history == [[ids["b"], ids["c"], ids["d"]], [ids["a"], 0, 0], [0, 0, 0]]
    targets = [int(row[transformed_name("target_item")]) for row in transformed]
    assert targets == [ids["e"], ids["b"], ids["a"]]


def test_an_item_unseen_in_training_gets_the_out_of_vocabulary_id(sequence_run) -> None:
    _, output = sequence_run
    ids = _ids(output)
    history = tf.sparse.from_dense(tf.constant([[b"a", b"new", b""]]))
    served = output.transform_features_layer()({"history_items": history})
    unknown = len(ids) + 1
    assert served[transformed_name("history_items")].numpy().tolist() == [[ids["a"], unknown, 0]]
    assert np.max(list(ids.values())) == unknown - 1
