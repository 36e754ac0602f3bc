"""The tabular `explain` signature (kinds/tabular/explanations.py): integrated
gradients over a finance_risk model exported as the Trainer exports it, and over a
model trained on data whose label depends on two of its eight features."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.config.contract import EXPLANATION
from aet.kinds.tabular.explanations import TabularExplainer
from benchmarks.two_feature_domain import (
    CATEGORICAL,
    INFORMATIVE,
    NUMERIC,
    moved_first_share,
    train_two_feature_model,
    two_feature_data,
)
from tests.exported_model import shared_exported_model, trainer_signatures
from tests.transform_fixture import to_example

COMPLETENESS_TOLERANCE = 0.01  # of a probability, at the default steps


@pytest.fixture(scope="module")
def exported(transform_run, tmp_path_factory):
    return shared_exported_model(transform_run, tmp_path_factory)


@pytest.fixture(scope="module")
def examples(transform_run) -> tf.Tensor:
    rows = transform_run.train_rows + transform_run.probe_rows
    return tf.constant([to_example(row) for row in rows])


@pytest.fixture(scope="module")
def explained(exported, examples):
    """The explain and serving_default answers for the training and probe rows."""
    loaded = tf.saved_model.load(exported[1])
    answer = loaded.signatures[EXPLANATION](examples=examples)
    served = loaded.signatures["serving_default"](examples=examples)["probability"]
    return {key: value.numpy() for key, value in answer.items()}, served.numpy()


def completeness_gaps(explanation: dict) -> np.ndarray:
    change = explanation["probability"] - explanation["baseline_probability"]
    return np.abs(explanation["attributions"].sum(axis=1) - change)


def test_attributions_sum_to_the_change_from_the_baseline(explained):
    explanation, _ = explained
    assert completeness_gaps(explanation).max() < COMPLETENESS_TOLERANCE
    # Not trivially: the rows do move away from the baseline's probability.
    change = explanation["probability"] - explanation["baseline_probability"]
    assert np.abs(change).max() > 5 * COMPLETENESS_TOLERANCE


def test_explain_answers_as_serving_default_with_one_attribution_per_feature(
    explained, transform_run
):
    explanation, served = explained
    np.testing.assert_allclose(explanation["probability"], served, atol=1e-5)
    features = transform_run.config.features
    rows = len(served)
    assert explanation["attributions"].shape == (rows, len(features.input_names))
    assert [name.decode() for name in explanation["features"][0]] == features.input_names
    positive = features.label.classes[1]
    assert {value.decode() for value in explanation["explained_class"]} == {positive}


def test_attributions_explain_the_served_probability_of_a_class_weighted_model(
    exported, transform_run, examples
):
    """The served probabilities undo the class weights; the explained ones must too."""
    signatures = trainer_signatures(exported[0], transform_run, class_weights={0: 1.0, 1: 2.5})
    explanation = {k: v.numpy() for k, v in signatures[EXPLANATION](examples).items()}
    served = signatures["serving_default"](examples)["probability"].numpy()
    np.testing.assert_allclose(explanation["probability"], served, atol=1e-5)
    assert completeness_gaps(explanation).max() < COMPLETENESS_TOLERANCE


@pytest.fixture(scope="module")
def two_feature_explanations():
    """A model of the two-feature data set, its explainer, 300 held-out rows and their
    attributions."""
    model = train_two_feature_model(rows=1200, epochs=10, seed=0)
    inputs, _ = two_feature_data(rows=300, seed=1)
    inputs = {name: tf.constant(values) for name, values in inputs.items()}
    explainer = TabularExplainer(model, NUMERIC, list(CATEGORICAL))
    attributions, _ = explainer.attributions(inputs, lambda output: output[:, 0], steps=32)
    return explainer, inputs, attributions.numpy()


def test_the_two_features_the_label_depends_on_rank_first(two_feature_explanations):
    explainer, inputs, attributions = two_feature_explanations
    assert set(INFORMATIVE) <= set(explainer.features)
    ranking = np.argsort(-np.abs(attributions), axis=1)
    c0_ids = inputs["c0_xf"].numpy()[:, 0]
    assert moved_first_share(explainer.features, c0_ids, ranking) >= 0.85


def test_cls_attention_is_a_distribution_over_the_feature_tokens(two_feature_explanations):
    explainer, inputs, _ = two_feature_explanations
    attention = explainer.cls_attention(inputs).numpy()
    assert attention.shape == (300, len(explainer.features))
    # The CLS token's own weight is left out, so a row sums to less than 1.
    assert np.all(attention >= 0) and np.all(attention.sum(axis=1) < 1.0 + 1e-6)
