"""kinds/tabular/baselines.py: the exported logistic regression and boosted trees answer
as scikit-learn's fitted models do, on the matrix the model's own inputs make."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from aet.components.features import transformed_name
from aet.components.models.ft_transformer import TabularInputs
from aet.kinds.tabular.baselines import (
    BOOSTED_TREES,
    LOGISTIC_REGRESSION,
    feature_matrix,
    fit_baselines,
)

INPUTS = TabularInputs(numeric=["x1", "x2"], categorical={"colour": 4})


def _rows(count: int, classes: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Transformed inputs whose class follows x1, x2 and the colour, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 2)).astype(np.float32)
    colour = rng.integers(0, 4, size=(count, 1))
    score = x[:, 0] - 0.5 * x[:, 1] + (colour[:, 0] == 2) + rng.normal(0, 0.5, count)
    labels = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    transformed = {
        transformed_name("x1"): tf.constant(x[:, :1]),
        transformed_name("x2"): tf.constant(x[:, 1:]),
        transformed_name("colour"): tf.constant(colour, tf.int64),
    }
    return transformed, labels


def test_the_matrix_is_the_numbers_then_each_category_one_hot():
    transformed, _ = _rows(3, 2)
    matrix = feature_matrix(INPUTS, transformed).numpy()
    assert matrix.shape == (3, 2 + 4)
    np.testing.assert_array_equal(
        matrix[:, :2], np.concatenate([transformed["x1_xf"], transformed["x2_xf"]], 1)
    )
    np.testing.assert_array_equal(matrix[:, 2:].argmax(1), transformed["colour_xf"].numpy()[:, 0])


@pytest.mark.parametrize("classes", [2, 3])
def test_the_exported_baselines_answer_as_scikit_learn_does(classes: int):
    train, labels = _rows(400, classes)
    matrix = feature_matrix(INPUTS, train).numpy()
    exported = fit_baselines(matrix, labels, INPUTS, classes, seed=0)
    test, _ = _rows(200, classes, seed=1)
    test_matrix = feature_matrix(INPUTS, test).numpy()
    regression = LogisticRegression(max_iter=2000).fit(matrix, labels)
    trees = GradientBoostingClassifier(random_state=0).fit(matrix, labels)
    np.testing.assert_allclose(
        exported[LOGISTIC_REGRESSION](test).numpy(),
        regression.predict_proba(test_matrix),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        exported[BOOSTED_TREES](test).numpy(), trees.predict_proba(test_matrix), atol=1e-5
    )


def test_a_class_the_training_rows_never_held_gets_zero_probability():
    train, labels = _rows(300, 2)
    exported = fit_baselines(feature_matrix(INPUTS, train).numpy(), labels * 2, INPUTS, 3, seed=0)
    answer = exported[BOOSTED_TREES](train).numpy()
    assert answer.shape == (300, 3) and np.all(answer[:, 1] == 0)
    np.testing.assert_allclose(answer.sum(axis=1), 1.0, rtol=1e-5)
    assert fit_baselines(np.zeros((5, 6)), np.zeros(5, int), INPUTS, 2, seed=0) == {}
