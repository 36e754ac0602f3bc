"""The classifier signatures (components/export/signatures.py): a model exported as the
Trainer exports it, called the way TF Serving (`serving_default`) and TFMA
(`transform_features`) call it."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.export.signatures import undo_class_weights
from aet.components.features import transformed_name
from aet.config.contract import TABULAR_BASELINES
from tests.exported_model import shared_exported_model, trainer_signatures
from tests.transform_fixture import UNSEEN_CATEGORY, to_example

ROWS = 8


@pytest.fixture(scope="module")
def exported(transform_run, tmp_path_factory):
    """(in-memory model, SavedModel path) of a briefly trained model with its signatures."""
    return shared_exported_model(transform_run, tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


def _serialized(rows: list[dict], omit: tuple[str, ...] = ()) -> tf.Tensor:
    return tf.constant([to_example(row, omit) for row in rows])


def _beam_outputs(transform_run, key: str, n: int = ROWS) -> np.ndarray:
    return np.stack([row[key] for row in transform_run.train_transformed[:n]])


def test_the_example_signatures_take_serialized_examples(loaded):
    assert set(loaded.signatures) == {
        "serving_default",
        "serve_examples",
        "classification",
        "predict_features",
        "explain",
        "transform_features",
    }
    for name in ("serving_default", "serve_examples", "explain", "transform_features"):
        _, kwargs = loaded.signatures[name].structured_input_signature
        assert kwargs == {"examples": tf.TensorSpec([None], tf.string, name="examples")}


def test_serving_default_scores_raw_examples_without_a_label(loaded, transform_run):
    label = transform_run.config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    outputs = loaded.signatures["serving_default"](examples=examples)
    assert set(outputs) == {"probability"}
    probability = outputs["probability"].numpy()
    assert probability.shape == (ROWS,)
    assert np.all((probability >= 0) & (probability <= 1))


def test_serving_applies_the_same_transform_as_training(exported, loaded, transform_run):
    """No training/serving skew: raw examples through the signature score exactly like the
    Beam-transformed training rows through the Keras model."""
    model, _ = exported
    label = transform_run.config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    served = loaded.signatures["serving_default"](examples=examples)["probability"].numpy()
    batch = {key: _beam_outputs(transform_run, key) for key in model.input}
    expected = model(batch, training=False).numpy()[:, 0]
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-6)
    assert np.ptp(expected) > 0  # the rows are told apart, so the comparison means something


def test_predict_features_takes_named_raw_features_and_agrees(loaded, transform_run):
    """The JSON-friendly signature: one [batch] input per raw feature, as REST
    `instances` of {feature: value} arrive."""
    config = transform_run.config
    rows = transform_run.train_rows[:ROWS]
    serve = loaded.signatures["predict_features"]
    _, specs = serve.structured_input_signature
    assert set(specs) == set(config.features.input_names)
    assert specs["age_in_years"].dtype == tf.int64 and specs["purpose"].dtype == tf.string
    features = {
        name: tf.constant([row[name] for row in rows], spec.dtype) for name, spec in specs.items()
    }
    by_features = serve(**features)["probability"].numpy()
    label = config.features.label.name
    by_examples = loaded.signatures["serving_default"](examples=_serialized(rows, omit=(label,)))[
        "probability"
    ].numpy()
    np.testing.assert_allclose(by_features, by_examples, rtol=1e-6)


def test_classification_returns_every_class_and_its_probability(loaded, transform_run):
    """What TF Serving's Classify API reads: `classes` and `scores`, one column per class."""
    label = transform_run.config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    outputs = loaded.signatures["classification"](inputs=examples)
    assert outputs["classes"].numpy().tolist() == [[b"good", b"bad"]] * ROWS
    scores = outputs["scores"].numpy()
    probability = loaded.signatures["serving_default"](examples=examples)["probability"]
    np.testing.assert_allclose(scores[:, 1], probability.numpy(), rtol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)


def test_serving_accepts_an_unseen_category(loaded, transform_run):
    label = transform_run.config.features.label.name
    rows = [row for row in transform_run.probe_rows if row["purpose"] == UNSEEN_CATEGORY]
    outputs = loaded.signatures["serving_default"](examples=_serialized(rows, omit=(label,)))
    probability = outputs["probability"].numpy()
    assert probability.shape == (1,) and 0 <= probability[0] <= 1


def test_transform_features_returns_the_transformed_label_and_slices(loaded, transform_run):
    rows = transform_run.train_rows[:ROWS]
    outputs = loaded.signatures["transform_features"](examples=_serialized(rows))
    label_key = transformed_name(transform_run.config.features.label.name)
    np.testing.assert_array_equal(
        outputs[label_key].numpy(), _beam_outputs(transform_run, label_key)
    )
    np.testing.assert_array_equal(
        outputs["age_band"].numpy(), _beam_outputs(transform_run, "age_band")
    )
    assert outputs[label_key].numpy()[:, 0].tolist() == [
        {"good": 0, "bad": 1}[row["creditability"]] for row in rows
    ]


def test_transform_features_match_beam_for_every_output(loaded, transform_run):
    outputs = loaded.signatures["transform_features"](
        examples=_serialized(transform_run.train_rows[:ROWS])
    )
    expected = set(transform_run.tf_transform_output.transformed_feature_spec())
    assert set(outputs) == expected
    for key in expected:
        got, want = outputs[key].numpy(), _beam_outputs(transform_run, key)
        if want.dtype == np.float32:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(got, want, err_msg=key)


def test_keras_loading_as_tfma_does_gives_the_same_scores(exported, loaded, transform_run):
    """TFMA loads a Keras SavedModel with tf.keras.models.load_model before calling it."""
    model, path = exported
    label = transform_run.config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    served = loaded.signatures["serving_default"](examples=examples)["probability"].numpy()
    keras_model = tf.keras.models.load_model(path)
    via_keras = keras_model.signatures["serving_default"](examples=examples)["probability"]
    np.testing.assert_allclose(via_keras.numpy(), served, rtol=1e-5)
    batch = {key: _beam_outputs(transform_run, key) for key in model.input}
    np.testing.assert_allclose(keras_model(batch, training=False).numpy()[:, 0], served, rtol=1e-4)


def test_undo_class_weights_restores_the_unweighted_odds():
    weighted = tf.constant([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])
    # Balanced weights for a 30 % positive class: w0 = 1 / (2 * 0.7), w1 = 1 / (2 * 0.3).
    weights = {0: 1 / 1.4, 1: 1 / 0.6}
    restored = undo_class_weights(weighted, weights).numpy()
    odds_ratio = weights[1] / weights[0]
    expected_odds = weighted.numpy()[:, 1] / weighted.numpy()[:, 0] / odds_ratio
    np.testing.assert_allclose(restored[:, 1] / restored[:, 0], expected_odds, rtol=1e-5)
    np.testing.assert_allclose(restored.sum(axis=1), 1.0, rtol=1e-6)
    # A 50/50 output of a balanced model is the base rate, 30 %.
    assert restored[0, 1] == pytest.approx(0.3, abs=1e-6)


def test_serving_default_undoes_the_class_weights_used_in_training(
    exported, transform_run, tmp_path
):
    model, _ = exported
    config = transform_run.config
    weights = {0: 0.7, 1: 1.6}
    path = tmp_path / "weighted"
    model.save(path, save_format="tf", signatures=trainer_signatures(model, transform_run, weights))
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    label = config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    probability = served(examples=examples)["probability"].numpy()

    raw = model.predict(
        {key: _beam_outputs(transform_run, key) for key in model.input}, verbose=0
    ).reshape(-1)
    logit = np.log(raw) - np.log1p(-raw) - np.log(weights[1] / weights[0])
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-logit)), rtol=1e-4, atol=1e-6)


def test_serve_examples_answers_both_baselines_beside_the_model_and_serving_default_not(
    exported, transform_run
):
    loaded = tf.saved_model.load(exported[1])
    label = transform_run.config.features.label.name
    examples = _serialized(transform_run.train_rows[:ROWS], omit=(label,))
    served = loaded.signatures["serving_default"](examples=examples)
    evaluated = loaded.signatures["serve_examples"](examples=examples)
    assert set(served) == {"probability"}
    assert set(evaluated) == {"probability", *TABULAR_BASELINES}
    np.testing.assert_allclose(evaluated["probability"], served["probability"], rtol=1e-6)
    for baseline in TABULAR_BASELINES:
        answer = evaluated[baseline].numpy()
        assert answer.shape == (ROWS,) and np.all((answer >= 0) & (answer <= 1))
        assert not np.allclose(answer, served["probability"].numpy(), atol=1e-3)
