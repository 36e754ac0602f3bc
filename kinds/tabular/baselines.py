"""The two baselines a tabular model is scored beside: logistic regression and
gradient-boosted trees, fitted in the Trainer on the same transformed training split
and exported inside the model's `serve_examples`, so the Evaluator scores all three
with the same metrics on the same held-out rows (as a recommender's baselines are).

Both read one matrix: the z-scored numbers as Transform wrote them and each category
one-hot over its vocabulary (out-of-vocabulary bucket included), built by the same TF
function for fitting and for serving. scikit-learn fits them (LogisticRegression with
its default L2 and up to 2,000 iterations, GradientBoostingClassifier with its
defaults) on the first `BASELINE_ROWS` training rows (fewer for very wide one-hots).
scikit-learn exports neither into a TF graph, so the export is written here: the
regression's weights as one matrix product, and the trees (public `tree_` arrays of
each stage) as a walk of fixed depth over gathered node tables, which TF Serving runs
with core ops only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from aet.components.features import transformed_name
from aet.components.models.ft_transformer import TabularInputs
from aet.config.contract import TABULAR_BASELINES

LOGISTIC_REGRESSION, BOOSTED_TREES = TABULAR_BASELINES
BASELINE_ROWS = 50_000  # training rows the baselines are fitted on, at most
MATRIX_CELLS = 50_000_000  # and the matrix's rows x columns (200 MB of float32), at most

# transformed model inputs -> [batch, classes] probabilities
Baseline = Callable[[dict], tf.Tensor]


def feature_matrix(inputs: TabularInputs, transformed: dict) -> tf.Tensor:
    """[batch, features] float32: the numbers, then each category one-hot."""
    columns = [tf.cast(transformed[transformed_name(name)], tf.float32) for name in inputs.numeric]
    for name, size in inputs.categorical.items():
        ids = tf.reshape(transformed[transformed_name(name)], [-1])
        columns.append(tf.one_hot(ids, size, dtype=tf.float32))
    return tf.concat([tf.reshape(c, [tf.shape(c)[0], -1]) for c in columns], axis=1)


def training_matrix(
    fn_args: FnArgs,
    tf_transform_output: tft.TFTransformOutput,
    inputs: TabularInputs,
    label_key: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The first rows of the transformed training split (in the split's order: ExampleGen
    hashes rows into it), as the matrix and the class ids: `BASELINE_ROWS`, fewer where
    wide one-hot blocks would make the matrix larger than `MATRIX_CELLS`."""
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=1024, shuffle=False, num_epochs=1, label_key=label_key
    )
    dataset = fn_args.data_accessor.tf_dataset_factory(
        fn_args.train_files, options, tf_transform_output.transformed_metadata.schema
    )
    width = len(inputs.numeric) + sum(inputs.categorical.values())
    most = max(1, min(BASELINE_ROWS, MATRIX_CELLS // width))
    matrices, labels, rows = [], [], 0
    for features, label in dataset:
        matrices.append(feature_matrix(inputs, features).numpy())
        labels.append(tf.reshape(label, [-1]).numpy())
        rows += len(labels[-1])
        if rows >= most:
            break
    return np.concatenate(matrices)[:most], np.concatenate(labels)[:most]


def _probabilities(logits: tf.Tensor, fitted: np.ndarray, num_classes: int) -> tf.Tensor:
    """[batch, 1] binary or [batch, k] logits over the `fitted` classes (those the
    training rows held) -> [batch, num_classes] probabilities, 0 for a class never seen."""
    if logits.shape[-1] == 1:
        positive = tf.sigmoid(logits)
        probabilities = tf.concat([1.0 - positive, positive], axis=-1)
    else:
        probabilities = tf.nn.softmax(logits)
    position = {int(label): index for index, label in enumerate(fitted)}
    columns = [position.get(label, len(fitted)) for label in range(num_classes)]
    padded = tf.pad(probabilities, [[0, 0], [0, 1]])  # the last column: never seen
    return tf.gather(padded, columns, axis=1)


def regression_baseline(
    model: LogisticRegression, inputs: TabularInputs, num_classes: int
) -> Baseline:
    weights = tf.constant(model.coef_.T, tf.float32)  # [features, 1 or classes]
    bias = tf.constant(model.intercept_, tf.float32)

    def probabilities(transformed: dict) -> tf.Tensor:
        logits = feature_matrix(inputs, transformed) @ weights + bias
        return _probabilities(logits, model.classes_, num_classes)

    return probabilities


@dataclass(frozen=True)
class TreeTables:
    """Every tree of the ensemble as rows of padded node tables. A leaf points to itself,
    so a walk of `depth` steps ends on each row's leaf whatever its depth."""

    feature: np.ndarray  # [trees, nodes] int32
    threshold: np.ndarray  # [trees, nodes] float32: go left when value <= threshold
    left: np.ndarray  # [trees, nodes] int32
    right: np.ndarray  # [trees, nodes] int32
    value: np.ndarray  # [trees, nodes] float32: a leaf's contribution to its logit
    logit: np.ndarray  # [trees] int32: the logit each tree adds to
    initial: np.ndarray  # [logits] float32: the prior's raw score
    depth: int


def tree_tables(model: GradientBoostingClassifier, sample: np.ndarray) -> TreeTables:
    """The fitted stages as tables; the prior's raw score is what the decision function
    gives `sample`'s first row beyond its trees."""
    trees = [(tree, logit) for row in model.estimators_ for logit, tree in enumerate(row)]
    nodes = max(tree.tree_.node_count for tree, _ in trees)
    shape = (len(trees), nodes)
    tables = {
        "feature": np.zeros(shape, np.int32),
        "threshold": np.zeros(shape, np.float32),
        "left": np.tile(np.arange(nodes, dtype=np.int32), (len(trees), 1)),
        "right": np.tile(np.arange(nodes, dtype=np.int32), (len(trees), 1)),
        "value": np.zeros(shape, np.float32),
    }
    for row, (tree, _) in enumerate(trees):
        t = tree.tree_
        count = t.node_count
        split = t.children_left[:count] >= 0
        tables["feature"][row, :count] = np.where(split, t.feature[:count], 0)
        tables["threshold"][row, :count] = t.threshold[:count]
        tables["left"][row, :count] = np.where(split, t.children_left[:count], np.arange(count))
        tables["right"][row, :count] = np.where(split, t.children_right[:count], np.arange(count))
        tables["value"][row, :count] = model.learning_rate * t.value[:count, 0, 0]
    raw = np.atleast_1d(model.decision_function(sample[:1])[0]).astype(np.float64)
    for tree, logit in trees:
        raw[logit] -= model.learning_rate * tree.predict(sample[:1])[0]
    return TreeTables(
        **tables,
        logit=np.array([logit for _, logit in trees], np.int32),
        initial=raw.astype(np.float32),
        depth=max(tree.tree_.max_depth for tree, _ in trees),
    )


def tree_logits(matrix: tf.Tensor, tables: TreeTables) -> tf.Tensor:
    """[batch, features] -> [batch, logits]: each row walks every tree at once."""
    trees, nodes = tables.feature.shape
    offsets = tf.range(trees)[tf.newaxis, :] * nodes  # a tree's first row in the flat tables
    flat = {
        name: tf.constant(getattr(tables, name).reshape(-1))
        for name in ("feature", "threshold", "left", "right", "value")
    }
    node = tf.zeros([tf.shape(matrix)[0], trees], tf.int32)
    for _ in range(tables.depth):
        at = node + offsets
        value = tf.gather(matrix, tf.gather(flat["feature"], at), batch_dims=1)
        left = value <= tf.gather(flat["threshold"], at)
        node = tf.where(left, tf.gather(flat["left"], at), tf.gather(flat["right"], at))
    leaves = tf.gather(flat["value"], node + offsets)  # [batch, trees]
    per_logit = tf.math.unsorted_segment_sum(
        tf.transpose(leaves), tf.constant(tables.logit), len(tables.initial)
    )
    return tf.transpose(per_logit) + tf.constant(tables.initial)


def trees_baseline(
    model: GradientBoostingClassifier, sample: np.ndarray, inputs: TabularInputs, num_classes: int
) -> Baseline:
    tables = tree_tables(model, sample)

    def probabilities(transformed: dict) -> tf.Tensor:
        logits = tree_logits(feature_matrix(inputs, transformed), tables)
        return _probabilities(logits, model.classes_, num_classes)

    return probabilities


def fit_logistic_regression(
    matrix: np.ndarray, labels: np.ndarray, class_weights: dict[int, float] | None = None
) -> LogisticRegression:
    """scikit-learn's logistic regression (default L2) on the matrix and class ids,
    weighting each class as training does when `class_weights` are given."""
    return LogisticRegression(max_iter=2000, class_weight=class_weights).fit(matrix, labels)


def fit_baselines(
    matrix: np.ndarray, labels: np.ndarray, inputs: TabularInputs, num_classes: int, seed: int
) -> dict[str, Baseline]:
    """Both baselines fitted on the training `matrix` and class ids, as TF functions;
    none when the rows hold a single class (nothing to fit)."""
    if len(np.unique(labels)) < 2:
        return {}
    regression = fit_logistic_regression(matrix, labels)
    trees = GradientBoostingClassifier(random_state=seed).fit(matrix, labels)
    return {
        LOGISTIC_REGRESSION: regression_baseline(regression, inputs, num_classes),
        BOOSTED_TREES: trees_baseline(trees, matrix, inputs, num_classes),
    }
