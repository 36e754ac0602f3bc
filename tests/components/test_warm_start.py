"""Warm start from a served or blessed model: weights carried over by layer name,
embeddings remapped through the two vocabularies (a category's, a recommender's items),
changed layers started fresh and reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from aet.components.models.sasrec import ITEM_EMBEDDING, build_sasrec
from aet.components.warm_start import EmbeddingRows, remap_rows, warm_start
from aet.config import ModelConfig


def _model(vocabulary_size: int, width: int = 3) -> tf.keras.Model:
    colour = tf.keras.Input((1,), dtype=tf.int64, name="colour")
    x = tf.keras.layers.Embedding(vocabulary_size, 2, name="colour_emb")(colour)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(width, name="hidden")(x)
    return tf.keras.Model(colour, tf.keras.layers.Dense(1, name="head")(x))


def _saved(tmp_path: Path, model: tf.keras.Model, vocabulary: list[str]) -> str:
    directory = tmp_path / "base"
    model.save(directory, save_format="tf")
    (directory / "assets").mkdir(exist_ok=True)
    (directory / "assets" / "colour").write_text("".join(f"{v}\n" for v in vocabulary))
    return str(directory)


def _vocabulary(tmp_path: Path, values: list[str]) -> str:
    path = tmp_path / "new" / "colour"
    path.parent.mkdir()
    path.write_text("".join(f"{v}\n" for v in values))
    return str(path)


def test_rows_follow_their_values_and_new_values_stay_fresh() -> None:
    old = np.array([[1.0], [2.0], [3.0], [9.0]])  # red, green, blue, then one OOV row
    new = np.zeros((4, 1))
    rows, carried = remap_rows(old, new, ["red", "green", "blue"], ["blue", "pink", "red"])
    np.testing.assert_array_equal(rows, [[3.0], [0.0], [1.0], [9.0]])
    assert carried == 3  # blue, red and the OOV row


def test_weights_are_copied_by_name_and_embeddings_remapped(tmp_path: Path) -> None:
    base = _model(4)
    base_dir = _saved(tmp_path, base, ["red", "green", "blue"])
    fresh = _model(5)  # new data: one more colour, in a new frequency order
    vocabulary = _vocabulary(tmp_path, ["green", "red", "pink", "blue"])
    fresh_embedding_before = fresh.get_layer("colour_emb").get_weights()[0].copy()

    report = warm_start(fresh, base_dir, {"colour_emb": EmbeddingRows(vocabulary)})

    for name in ("hidden", "head"):
        for copied, original in zip(
            fresh.get_layer(name).get_weights(), base.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(copied, original)
    old_rows = base.get_layer("colour_emb").get_weights()[0]
    new_rows = fresh.get_layer("colour_emb").get_weights()[0]
    np.testing.assert_array_equal(new_rows[0], old_rows[1])  # green
    np.testing.assert_array_equal(new_rows[1], old_rows[0])  # red
    np.testing.assert_array_equal(new_rows[2], fresh_embedding_before[2])  # pink: new
    np.testing.assert_array_equal(new_rows[3], old_rows[2])  # blue
    np.testing.assert_array_equal(new_rows[4], old_rows[3])  # the OOV bucket
    assert report.copied == ["hidden", "head"]
    assert report.remapped == {"colour_emb": 4}
    assert report.fresh == []


def test_a_layer_whose_shape_changed_starts_fresh_and_is_reported(tmp_path: Path) -> None:
    base_dir = _saved(tmp_path, _model(4, width=3), ["red", "green", "blue"])
    fresh = _model(4, width=5)  # the config widened the hidden layer
    vocabulary = _vocabulary(tmp_path, ["red", "green", "blue"])
    report = warm_start(fresh, base_dir, {"colour_emb": EmbeddingRows(vocabulary)})
    assert report.fresh == ["hidden", "head"]
    assert "2 started fresh: hidden, head" in report.describe()


def test_an_embedding_without_the_old_vocabulary_starts_fresh(tmp_path: Path) -> None:
    base = _model(4)
    base_dir = str(tmp_path / "base")
    base.save(base_dir, save_format="tf")  # no vocabulary among its assets
    fresh = _model(4)
    vocabulary = _vocabulary(tmp_path, ["red", "green", "blue"])
    report = warm_start(fresh, base_dir, {"colour_emb": EmbeddingRows(vocabulary)})
    assert report.fresh == ["colour_emb"]


def _recommender(items: int) -> tf.keras.Model:
    """SASRec over `items` known items: ids 0 (padding), 1..items, then the OOV id."""
    config = ModelConfig(embedding_dim=8, num_layers=1, num_heads=2)
    return build_sasrec(config, num_item_ids=items + 2, max_length=4, input_name="history")


def test_a_recommender_keeps_its_known_items_rows_across_vocabularies(tmp_path: Path) -> None:
    base = _recommender(3)
    base_dir = tmp_path / "base"
    base.save(base_dir, save_format="tf")
    (base_dir / "assets").mkdir(exist_ok=True)
    (base_dir / "assets" / "items").write_text("m1\nm2\nm3\n")
    fresh = _recommender(4)  # a later span: m3 now most frequent, m9 new, m2 gone
    vocabulary = tmp_path / "new" / "items"
    vocabulary.parent.mkdir()
    vocabulary.write_text("m3\nm1\nm9\nm4\n")
    before = fresh.get_layer(ITEM_EMBEDDING).get_weights()[0].copy()

    report = warm_start(
        fresh, str(base_dir), {ITEM_EMBEDDING: EmbeddingRows(str(vocabulary), leading=1)}
    )

    old = base.get_layer(ITEM_EMBEDDING).get_weights()[0]
    new = fresh.get_layer(ITEM_EMBEDDING).get_weights()[0]
    np.testing.assert_array_equal(new[0], old[0])  # padding
    np.testing.assert_array_equal(new[1], old[3])  # m3
    np.testing.assert_array_equal(new[2], old[1])  # m1
    np.testing.assert_array_equal(new[3], before[3])  # m9: new, starts fresh
    np.testing.assert_array_equal(new[4], before[4])  # m4: new
    np.testing.assert_array_equal(new[5], old[4])  # the out-of-vocabulary id
    assert report.remapped == {ITEM_EMBEDDING: 4}  # padding, m3, m1 and the OOV row
    assert "transformer_0" in report.copied and report.fresh == []
