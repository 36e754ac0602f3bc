"""`components.models.wide_and_deep`: the model starts as its linear path, the gate
lets the attention path add to it, and its explanations still sum up."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.components.features import transformed_name
from aet.components.models.wide_and_deep import DEEP_GATE, build_wide_and_deep, start_from_linear
from aet.kinds.tabular.explanations import COMPLETENESS_TOLERANCE, TabularExplainer
from tests.components.models.test_ft_transformer import INPUTS, SMALL, _batch


def _named(batch: dict) -> dict:
    return {transformed_name(name): values for name, values in batch.items()}


def _model(num_classes: int = 2) -> tf.keras.Model:
    return build_wide_and_deep(INPUTS, SMALL, num_classes, input_name=transformed_name)


def _linear_logits(model: tf.keras.Model, batch: dict) -> np.ndarray:
    """The wide path by hand: numbers times weights, each category's embedding row
    times its weights, a bias."""
    kernel, bias = model.get_layer("numeric_weights").get_weights()
    values = np.concatenate([batch[name] for name in INPUTS.numeric], axis=1)
    logits = values @ kernel + bias
    for name in INPUTS.categorical:
        table = model.get_layer(f"{name}_emb").get_weights()[0]
        (weights,) = model.get_layer(f"{name}_weights").get_weights()
        logits = logits + table[batch[name][:, 0]] @ weights
    return logits


def _deep_logits(model: tf.keras.Model, batch: dict) -> np.ndarray:
    deep = tf.keras.Model(model.inputs, model.get_layer("deep_logits").output)
    return deep(_named(batch), training=False).numpy()


def test_a_new_model_is_exactly_its_linear_path():
    model = _model()
    batch = _batch(16)
    assert model.get_layer(DEEP_GATE).get_weights()[0] == 0.0
    expected = 1 / (1 + np.exp(-_linear_logits(model, batch)))
    np.testing.assert_allclose(model(_named(batch), training=False).numpy(), expected, rtol=1e-5)


def test_the_gate_adds_the_attention_paths_logits_to_the_linear_ones():
    model = _model()
    batch = _batch(16, seed=1)
    model.get_layer(DEEP_GATE).set_weights([np.float32(0.5)])
    deep = _deep_logits(model, batch)
    assert np.abs(deep).max() > 0.05  # the attention path has something to add
    expected = 1 / (1 + np.exp(-(_linear_logits(model, batch) + 0.5 * deep)))
    np.testing.assert_allclose(model(_named(batch), training=False).numpy(), expected, rtol=1e-5)


def test_three_classes_get_a_softmax_over_both_paths():
    model = _model(num_classes=3)
    out = model(_named(_batch(5)), training=False).numpy()
    assert out.shape == (5, 3) and model.output_names == ["probabilities"]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_the_explainer_attributes_both_paths_through_one_token_per_feature():
    tf.keras.utils.set_random_seed(0)
    model = _model()
    model.get_layer(DEEP_GATE).set_weights([np.float32(1.0)])
    batch = {name: tf.constant(values) for name, values in _named(_batch(12, seed=2)).items()}
    explainer = TabularExplainer(model, INPUTS.numeric, list(INPUTS.categorical))
    attributions, baseline = explainer.attributions(batch, lambda out: out[:, 0], steps=64)
    change = model(batch, training=False).numpy()[:, 0] - baseline.numpy()
    assert attributions.shape == (12, len(INPUTS.numeric) + len(INPUTS.categorical))
    gaps = np.abs(attributions.numpy().sum(axis=1) - change)
    # As the serving check judges it (an untrained attention path is rough: 64 steps).
    assert gaps.mean() < COMPLETENESS_TOLERANCE / 5, (gaps, change)
    assert np.abs(change).mean() > COMPLETENESS_TOLERANCE


def test_a_model_started_from_a_linear_fit_answers_as_that_fit_does():
    from aet.kinds.tabular.baselines import feature_matrix

    model = _model()
    batch = _named(_batch(16, seed=3))
    width = len(INPUTS.numeric) + sum(INPUTS.categorical.values())
    rng = np.random.default_rng(0)
    coefficients = rng.normal(size=(1, width)).astype(np.float32)
    intercept = np.array([0.3], np.float32)
    start_from_linear(model, INPUTS, coefficients, intercept)
    logits = feature_matrix(INPUTS, batch).numpy() @ coefficients.T + intercept
    expected = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(model(batch, training=False).numpy(), expected, rtol=1e-5)
