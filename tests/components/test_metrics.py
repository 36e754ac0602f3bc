"""`components.metrics.KolmogorovSmirnov` against the KS statistic computed independently."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from aet.components.metrics import KolmogorovSmirnov


def _ks(y_true, y_pred, sample_weight=None, num_bins: int = 1000) -> float:
    metric = KolmogorovSmirnov(num_bins=num_bins)
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return float(metric.result())


def _scipy_ks(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return stats.ks_2samp(y_pred[y_true == 1], y_pred[y_true == 0]).statistic


def _weighted_ks(y_true, y_pred, weight) -> float:
    """Largest gap between the weighted empirical CDFs of positives and negatives."""
    grid = np.unique(y_pred)[:, None]
    positive, negative = y_true == 1, y_true == 0
    positive_cdf = (weight * positive * (y_pred <= grid)).sum(axis=1) / weight[positive].sum()
    negative_cdf = (weight * negative * (y_pred <= grid)).sum(axis=1) / weight[negative].sum()
    return float(np.max(np.abs(positive_cdf - negative_cdf)))


@pytest.fixture
def scored():
    """Overlapping score distributions: positives score higher on average."""
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, size=3000)
    y_pred = 1 / (1 + np.exp(-(rng.normal(size=3000) + 1.2 * y_true - 0.6)))
    return y_true.astype(np.float32), y_pred.astype(np.float32)


def test_matches_scipy_within_the_bin_width(scored):
    y_true, y_pred = scored
    expected = _scipy_ks(y_true, y_pred)
    assert 0.2 < expected < 0.8  # a real, imperfect separation
    # Binning can only merge scores; the error is bounded by the mass of one bin.
    assert _ks(y_true, y_pred) == pytest.approx(expected, abs=0.01)


def test_is_exact_when_scores_sit_inside_bins():
    rng = np.random.default_rng(3)
    num_bins = 50
    y_true = rng.integers(0, 2, size=500).astype(np.float32)
    bins = np.clip(rng.normal(25 + 8 * y_true, 10).round(), 0, num_bins - 1)
    y_pred = ((bins + 0.5) / num_bins).astype(np.float32)
    expected = _scipy_ks(y_true, y_pred)
    assert _ks(y_true, y_pred, num_bins=num_bins) == pytest.approx(expected, abs=1e-5)


def test_batches_accumulate_to_the_one_shot_result(scored):
    y_true, y_pred = scored
    metric = KolmogorovSmirnov()
    for start in range(0, len(y_true), 256):
        metric.update_state(y_true[start : start + 256], y_pred[start : start + 256])
    assert float(metric.result()) == pytest.approx(_ks(y_true, y_pred), abs=1e-6)


def test_accepts_column_shaped_labels_and_scores(scored):
    y_true, y_pred = scored
    column = _ks(y_true[:, None], y_pred[:, None])
    assert column == pytest.approx(_ks(y_true, y_pred), abs=1e-6)


def test_perfect_separation_gives_one():
    y_true = np.array([0, 0, 0, 1, 1, 1], np.float32)
    y_pred = np.array([0.05, 0.2, 0.3, 0.7, 0.8, 1.0], np.float32)
    assert _ks(y_true, y_pred) == pytest.approx(1.0)


def test_a_scorer_that_ignores_the_label_gives_zero():
    y_true = np.array([0, 1, 0, 1, 0, 1], np.float32)
    y_pred = np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.9], np.float32)
    assert _ks(y_true, y_pred) == pytest.approx(0.0)


def test_out_of_range_scores_are_clipped_into_the_end_bins():
    y_true = np.array([0, 0, 1, 1], np.float32)
    y_pred = np.array([-0.5, 0.0, 1.0, 1.5], np.float32)
    assert _ks(y_true, y_pred) == pytest.approx(1.0)


def test_reset_state_forgets_earlier_batches(scored):
    y_true, y_pred = scored
    metric = KolmogorovSmirnov()
    metric.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert float(metric.result()) == pytest.approx(1.0)
    metric.reset_state()
    assert float(metric.result()) == pytest.approx(0.0)
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(_ks(y_true, y_pred), abs=1e-6)


def test_sample_weights_are_respected(scored):
    y_true, y_pred = scored
    rng = np.random.default_rng(11)
    weight = rng.uniform(0.1, 3.0, size=len(y_true)).astype(np.float32)
    expected = _weighted_ks(y_true, y_pred, weight)
    assert _ks(y_true, y_pred, weight) == pytest.approx(expected, abs=0.01)
    # Integer weights are the same as repeating the examples.
    repeats = rng.integers(0, 4, size=len(y_true))
    repeated = _ks(np.repeat(y_true, repeats), np.repeat(y_pred, repeats))
    assert _ks(y_true, y_pred, repeats.astype(np.float32)) == pytest.approx(repeated, abs=1e-5)


def test_zero_weight_examples_do_not_count():
    y_true = np.array([0, 0, 1, 1, 1], np.float32)
    y_pred = np.array([0.1, 0.2, 0.8, 0.9, 0.05], np.float32)
    weight = np.array([1, 1, 1, 1, 0], np.float32)
    assert _ks(y_true, y_pred, weight) == pytest.approx(1.0)
    assert _ks(y_true, y_pred) < 1.0


def test_a_single_class_has_no_separation_to_report():
    # With no negatives there is no second distribution: KS must not claim a perfect 1.
    assert _ks([1, 1, 1], [0.2, 0.5, 0.9]) == pytest.approx(0.0)
    assert _ks([0, 0], [0.2, 0.9]) == pytest.approx(0.0)


def test_works_as_a_compiled_keras_metric():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(512, 1)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[KolmogorovSmirnov(name="ks")])
    model.build((None, 1))
    model.set_weights([np.array([[4.0]], np.float32), np.zeros(1, np.float32)])
    result = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert result["ks"] == pytest.approx(1.0)


def test_config_round_trip_keeps_the_bin_count():
    metric = KolmogorovSmirnov(num_bins=17, name="ks_17")
    restored = KolmogorovSmirnov.from_config(metric.get_config())
    assert restored.num_bins == 17 and restored.name == "ks_17"
    assert tf.keras.utils.get_registered_name(KolmogorovSmirnov) == "aet>KolmogorovSmirnov"
