"""`components.trainer.class_weights` and `build_model` on a real Transform output."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from aet.components.elastic import EventLog
from aet.components.features import LABEL_VOCABULARY, transformed_name
from aet.components.preprocessing import NUM_OOV_BUCKETS
from aet.components.trainer import (
    HISTORY_FILE,
    build_model,
    class_weights,
    steps_per_epoch,
    training_epochs,
    write_history,
)
from aet.config import load_config


class _VocabularyOnly:
    """Stands in for a TFTransformOutput whose label vocabulary is written by the test."""

    def __init__(self, path) -> None:
        self.path = path

    def vocabulary_file_by_name(self, name: str) -> str:
        assert name == LABEL_VOCABULARY
        return str(self.path)


def _vocabulary(tmp_path, counts: dict[str, int]) -> _VocabularyOnly:
    path = tmp_path / LABEL_VOCABULARY
    path.write_text("".join(f"{count} {value}\n" for value, count in counts.items()))
    return _VocabularyOnly(path)


def _override(config, *assignments: str):
    return load_config(config.source_dir / "config.yaml", list(assignments))


def _inputs(model: tf.keras.Model, rows: list[dict]) -> dict:
    return {key: np.stack([row[key] for row in rows]) for key in model.input}


# --- class weights ---------------------------------------------------------------------


def test_balanced_weights_from_the_transform_label_counts(transform_run):
    config = transform_run.config
    counts = Counter(row["creditability"] for row in transform_run.train_rows)
    n, k = sum(counts.values()), len(config.features.label.classes)
    weights = class_weights(transform_run.tf_transform_output, config)
    assert weights == pytest.approx({0: n / (k * counts["good"]), 1: n / (k * counts["bad"])})
    # Balanced: every class carries the same total weight, the rarer class more per example.
    assert weights[0] * counts["good"] == pytest.approx(weights[1] * counts["bad"])
    assert weights[1] > 1 > weights[0]


def test_weights_follow_the_class_order_of_the_config(tmp_path, finance_config):
    vocabulary = _vocabulary(tmp_path, {"good": 60, "bad": 20})
    assert class_weights(vocabulary, finance_config) == pytest.approx({0: 80 / 120, 1: 80 / 40})
    swapped = _override(finance_config, "features.label.classes=[bad, good]")
    assert class_weights(vocabulary, swapped) == pytest.approx({0: 80 / 40, 1: 80 / 120})


def test_label_values_with_spaces_are_read_whole(tmp_path, finance_config):
    config = _override(finance_config, "features.label.classes=['paid back', 'in default']")
    vocabulary = _vocabulary(tmp_path, {"paid back": 30, "in default": 10})
    assert class_weights(vocabulary, config) == pytest.approx({0: 40 / 60, 1: 40 / 20})


def test_a_class_absent_from_the_training_data_gets_no_weight(tmp_path, finance_config):
    vocabulary = _vocabulary(tmp_path, {"good": 50})
    assert class_weights(vocabulary, finance_config) == {0: 50 / (2 * 50), 1: 0.0}


def test_an_unknown_label_value_is_refused_by_name(tmp_path, finance_config):
    vocabulary = _vocabulary(tmp_path, {"good": 50, "bad": 20, "maybe": 3})
    with pytest.raises(ValueError, match=r"creditability.*'maybe'.*\['good', 'bad'\]"):
        class_weights(vocabulary, finance_config)


# --- the model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(transform_run) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    return build_model(transform_run.config, transform_run.tf_transform_output)


def test_inputs_are_the_transformed_features(model, transform_run):
    features = transform_run.config.features
    spec = transform_run.tf_transform_output.transformed_feature_spec()
    assert set(model.input) == {transformed_name(n) for n in features.input_names}
    for key, tensor in model.input.items():
        assert tensor.dtype == spec[key].dtype, key
    assert transformed_name(features.label.name) not in model.input
    assert "age_band" not in model.input


def test_embeddings_cover_the_vocabulary_and_the_oov_bucket(model, transform_run):
    output = transform_run.tf_transform_output
    for name in transform_run.config.features.categorical:
        expected = output.vocabulary_size_by_name(name) + NUM_OOV_BUCKETS
        assert model.get_layer(f"{name}_emb").input_dim == expected, name
    # An unseen category's OOV id is a valid embedding row.
    probes = transform_run.probe_transformed
    batch = {key: probes[key] for key in model.input}
    assert np.isfinite(model(batch, training=False).numpy()).all()


def test_model_follows_the_model_and_training_config(model, transform_run):
    config = transform_run.config
    blocks = [layer for layer in model.layers if type(layer).__name__ == "TransformerBlock"]
    assert len(blocks) == config.model.num_layers
    assert {block.embedding_dim for block in blocks} == {config.model.embedding_dim}
    assert isinstance(model.optimizer, tf.keras.optimizers.AdamW)
    assert float(model.optimizer.learning_rate) == pytest.approx(config.training.learning_rate)
    assert float(model.optimizer.weight_decay) == pytest.approx(config.training.weight_decay)
    assert isinstance(model.loss, tf.keras.losses.BinaryCrossentropy)


def test_compiled_metrics_include_what_the_callbacks_monitor(model, transform_run):
    config = transform_run.config
    rows = transform_run.train_transformed
    x = _inputs(model, rows)
    y = np.stack([row[transformed_name("creditability")] for row in rows]).astype(np.float32)
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=1,
        batch_size=16,
        class_weight=class_weights(transform_run.tf_transform_output, config),
        verbose=0,
    ).history
    assert {"loss", "auc", "pr_auc", "ks", "accuracy"} <= set(history)
    assert config.training.elastic.monitor in history  # the callbacks watch it
    for values in history.values():
        assert np.isfinite(values).all()


def test_three_classes_get_a_softmax_and_sparse_categorical_loss(transform_run):
    config = _override(
        transform_run.config,
        "features.label.classes=[good, bad, unknown]",
        "evaluation.metrics=[accuracy, log_loss]",
        "evaluation.thresholds={accuracy: {lower: 0.5}}",
        "evaluation.change_thresholds={}",
        "training.elastic.monitor=val_loss",
        "tuning.objective=val_accuracy",
    )
    model = build_model(config, transform_run.tf_transform_output)
    assert isinstance(model.loss, tf.keras.losses.SparseCategoricalCrossentropy)
    out = model(_inputs(model, transform_run.train_transformed[:4]), training=False).numpy()
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_logistic_regression_is_the_linear_model_of_the_transformed_features(transform_run):
    config = _override(transform_run.config, "model.architecture=logistic_regression")
    model = build_model(config, transform_run.tf_transform_output)
    assert not [layer for layer in model.layers if type(layer).__name__ == "TransformerBlock"]
    assert isinstance(model.loss, tf.keras.losses.BinaryCrossentropy)
    rows = transform_run.train_transformed[:8]
    x = _inputs(model, rows)
    numeric = model.get_layer("numeric_weights")
    kernel, bias = numeric.get_weights()
    values = np.concatenate([x[transformed_name(n)] for n in config.features.numeric], axis=1)
    logits = values @ kernel + bias
    for name in config.features.categorical:
        table = model.get_layer(f"{name}_emb").get_weights()[0]
        logits = logits + table[x[transformed_name(name)][:, 0]]
    expected = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(model(x, training=False).numpy(), expected, rtol=1e-5)


def test_logistic_regression_is_offered_for_tabular_data_only(transform_run):
    from aet.config import ConfigError

    with pytest.raises(ConfigError, match="'logistic_regression' does not fit images data"):
        load_config(
            transform_run.config.source_dir.parent / "medical_imaging" / "config.yaml",
            ["model.architecture=logistic_regression"],
        )


def _records(path, count: int) -> str:
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as out:
        for _ in range(count):
            out.write(b"x")
    return str(path)


@pytest.mark.parametrize("rows", [50, 700])
def test_epochs_alone_take_one_pass_over_the_training_split_per_epoch(
    tmp_path, finance_config, rows
):
    _records(tmp_path / "a.gz", rows // 2)
    _records(tmp_path / "b.gz", rows - rows // 2)
    files = [str(tmp_path / "*")]  # as TFX names a split's files
    config = _override(
        finance_config,
        "training.train_steps=null",
        "training.steps_per_epoch=null",
        "training.epochs=3",
        "training.batch_size=16",
    )
    steps = steps_per_epoch(config, files)
    assert steps == -(-rows // 16)
    assert training_epochs(config, steps) == 3


def test_step_counts_still_say_how_long_to_train(tmp_path, finance_config):
    files = [_records(tmp_path / "a.gz", 700)]
    steps = steps_per_epoch(finance_config, files)
    assert steps == finance_config.training.steps_per_epoch == 11
    assert training_epochs(finance_config, steps) == 440 // 11


# --- history.json -----------------------------------------------------------------------


def test_history_file_carries_the_metrics_and_the_elastic_events(tmp_path):
    history = {"loss": [0.7, np.float32(0.5)], "learning_rate": [0.001, 0.0005]}
    events = EventLog()
    events.record(
        epoch=0,
        step=11,
        callback="ElasticLearningRate",
        what="learning_rate",
        from_value=0.001,
        to_value=0.0005,
        why="val_loss did not improve for 1 epochs (best 0.6 at epoch 0)",
    )
    tuned = {"embedding_dim": 32, "learning_rate": 0.002}
    path = write_history(
        str(tmp_path), history, {0: 0.5, 1: 2.0}, events, "ckpt/epoch-000001", 1, tuned, 11, 3.254
    )
    assert path == str(tmp_path / HISTORY_FILE)
    written = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert written == {
        "epochs_run": 2,
        "class_weights": {"0": 0.5, "1": 2.0},
        "history": {"loss": [0.7, 0.5], "learning_rate": [0.001, 0.0005]},
        "events": events.events,
        "resumed_from": "ckpt/epoch-000001",
        "replicas": 1,
        "hyperparameters": tuned,
        "steps_per_epoch": 11,
        "fit_seconds": 3.25,
    }
