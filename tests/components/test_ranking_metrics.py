"""`components.ranking_metrics`: leave-last-out HR, NDCG and coverage, worked by hand, under
the sampled protocol, merged the way TFMA merges them, and run by TFMA itself."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from aet.components.ranking_metrics import (
    MASKED_SCORE,
    CatalogueCoverage,
    HitRate,
    NDCGAtCutoff,
    target_ranks,
)
from tests.tfma_fixture import evaluate_predictions

NUM_SCORES = 20  # id 0 pads, id 19 is out-of-vocabulary


def _descending_scores(rows: int, num_scores: int = NUM_SCORES) -> np.ndarray:
    """Scores falling with the id, padding and OOV masked: target id t ranks t - 1."""
    scores = np.tile(np.arange(num_scores, 0, -1, dtype=np.float32), (rows, 1))
    scores[:, [0, -1]] = MASKED_SCORE
    return scores


def _ranks(y_true, y_pred, sampled_negatives: int = 0, seed: int = 0) -> np.ndarray:
    return target_ranks(y_true, y_pred, sampled_negatives, seed).numpy()


def _result(metric: tf.keras.metrics.Metric, y_true, y_pred, sample_weight=None) -> float:
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return float(metric.result())


# --- full ranking, by hand -------------------------------------------------------------


def test_full_ranking_hit_rate_and_ndcg():
    targets = np.array([1, 4, 13])
    scores = _descending_scores(3)
    np.testing.assert_array_equal(_ranks(targets, scores), [0, 3, 12])
    assert _result(HitRate(), targets, scores) == pytest.approx(2 / 3)
    assert _result(NDCGAtCutoff(), targets, scores) == pytest.approx((1 + 1 / math.log2(5) + 0) / 3)
    # The cutoff decides what a hit is.
    assert _result(HitRate(cutoff=13), targets, scores) == pytest.approx(1.0)
    assert _result(HitRate(cutoff=3), targets, scores) == pytest.approx(1 / 3)


def test_masked_items_are_not_ranked():
    scores = _descending_scores(1)
    scores[0, [1, 2, 3, 5]] = MASKED_SCORE  # seen: 4 of the 12 ids above id 13
    scores[0, 6] = MASKED_SCORE + 100.0  # a 5th, masked despite a small offset
    assert _ranks([13], scores) == [12 - 5]


def test_ties_count_against_the_target():
    scores = np.zeros((1, NUM_SCORES), np.float32)
    scores[0, [0, -1]] = MASKED_SCORE
    # A constant scorer ranks the target behind every one of the other 17 candidates.
    assert _ranks([7], scores) == [NUM_SCORES - 3]
    assert _result(HitRate(cutoff=NUM_SCORES - 3), [7], scores) == 0.0
    scores[0, 3] = 1.0  # one candidate above, the 16 others tied
    assert _ranks([7], scores) == [NUM_SCORES - 3]


@pytest.mark.parametrize("sampled_negatives", [0, 5])
def test_a_masked_target_is_a_miss(sampled_negatives):
    scores = _descending_scores(2)
    scores[1, 2] = MASKED_SCORE  # the target was in the user's history
    targets = [0, 2]  # padding, history
    ranks = _ranks(targets, scores, sampled_negatives)
    np.testing.assert_array_equal(ranks, [NUM_SCORES, NUM_SCORES])
    assert (
        _result(HitRate(cutoff=NUM_SCORES, sampled_negatives=sampled_negatives), targets, scores)
        == 0.0
    )
    assert _result(NDCGAtCutoff(cutoff=NUM_SCORES), targets, scores) == 0.0


def test_sample_weights_and_column_shaped_float_labels():
    targets = np.array([[1.0], [4.0], [13.0]], np.float32)  # ranks 0, 3, 12
    weights = np.array([[1.0], [3.0], [0.0]], np.float32)
    scores = _descending_scores(3)
    assert _result(HitRate(), targets, scores, weights) == pytest.approx(1.0)
    assert _result(NDCGAtCutoff(), targets, scores, weights) == pytest.approx(
        (1 + 3 / math.log2(5)) / 4
    )
    assert _result(HitRate(cutoff=3), targets, scores, [2.0, 1.0, 1.0]) == pytest.approx(2 / 4)


# --- sampled protocol ------------------------------------------------------------------


def _random_rows(rows: int, num_scores: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random scores with padding, OOV and a random history masked; unmasked targets."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(rows, num_scores)).astype(np.float32)
    scores[rng.random((rows, num_scores)) < 0.1] = MASKED_SCORE
    scores[:, [0, -1]] = MASKED_SCORE
    targets = np.array([rng.choice(np.flatnonzero(row > MASKED_SCORE)) for row in scores])
    return targets, scores


def test_sampled_ranks_follow_the_hypergeometric_law():
    """A target beaten by half of its 997 negatives is beaten by half of 100 uniform draws,
    on average: the draws are uniform over the eligible negatives."""
    rows, num_scores = 500, 1000
    rng = np.random.default_rng(1)
    scores = np.stack([rng.permutation(num_scores) for _ in range(rows)]).astype(np.float32)
    scores[:, [0, -1]] = MASKED_SCORE
    targets = np.argsort(-scores, axis=1)[:, 500]  # full rank 500 of 997 negatives
    np.testing.assert_array_equal(_ranks(targets, scores), np.full(rows, 500))
    ranks = _ranks(targets, scores, sampled_negatives=100)
    assert ranks.min() >= 0 and ranks.max() <= 100
    # Mean 100 * 500 / 997 = 50.15; the standard error of the mean is about 0.21.
    assert ranks.mean() == pytest.approx(100 * 500 / 997, abs=1.0)
    assert ranks.std() == pytest.approx(math.sqrt(100 * 0.25 * 897 / 996), rel=0.15)


def test_sampled_ranks_do_not_depend_on_batching_but_on_the_seed():
    targets, scores = _random_rows(60, 1000, seed=2)
    ranks = _ranks(targets, scores, sampled_negatives=100)
    assert ranks.min() >= 0 and ranks.max() <= 100
    order = np.random.default_rng(3).permutation(60)
    np.testing.assert_array_equal(_ranks(targets[order], scores[order], 100), ranks[order])
    in_parts = [_ranks(targets[s], scores[s], 100) for s in np.array_split(np.arange(60), 4)]
    np.testing.assert_array_equal(np.concatenate(in_parts), ranks)
    assert not np.array_equal(_ranks(targets, scores, 100, seed=1), ranks)
    # Sampling only ever removes negatives.
    assert np.all(ranks <= _ranks(targets, scores))

    whole = NDCGAtCutoff(sampled_negatives=100)
    whole.update_state(targets, scores)
    batched = NDCGAtCutoff(sampled_negatives=100)
    for part in np.array_split(order, 3):
        batched.update_state(targets[part], scores[part])
    assert float(batched.result()) == pytest.approx(float(whole.result()), abs=1e-6)


def test_sampled_negatives_are_eligible_items_other_than_the_target():
    num_scores = 1000
    scores = np.tile(np.arange(num_scores, dtype=np.float32), (3, 1))
    scores[:, ::2] = MASKED_SCORE  # half the catalogue excluded
    scores[:, -1] = MASKED_SCORE
    # Row 0: target 1 scores below every other eligible item, so each of the 100 draws
    # beats it; a draw spent on a masked item would not. Row 1: target 997 scores above
    # all, so only the target itself could count. Row 2: only 50 eligible negatives left.
    scores[2, 103:] = MASKED_SCORE
    targets = [1, 997, 1]
    np.testing.assert_array_equal(_ranks(targets, scores, sampled_negatives=100), [100, 0, 50])


# --- coverage --------------------------------------------------------------------------


def test_coverage_counts_each_recommended_item_once():
    # ids 0 (padding) and 5 (OOV) masked; four real items; top 2 per row.
    scores = np.array(
        [
            [MASKED_SCORE, 0.9, 0.8, 0.1, 0.2, MASKED_SCORE],  # 1, 2
            [MASKED_SCORE, 0.7, 0.1, 0.2, 0.3, MASKED_SCORE],  # 1, 4
            [MASKED_SCORE, MASKED_SCORE, MASKED_SCORE, MASKED_SCORE, 0.5, MASKED_SCORE],  # 4
        ],
        np.float32,
    )
    metric = CatalogueCoverage(num_scores=6, num_items=4, cutoff=2)
    assert _result(metric, [1, 1, 1], scores) == pytest.approx(3 / 4)
    np.testing.assert_array_equal(metric.get_weights()[0], [0, 2, 1, 0, 2, 0])
    # A zero weight recommends nothing.
    weighted = CatalogueCoverage(num_scores=6, num_items=4, cutoff=2)
    assert _result(weighted, [1, 1, 1], scores, [1.0, 0.0, 0.0]) == pytest.approx(2 / 4)


def test_coverage_never_counts_masked_ids():
    scores = np.full((4, 6), MASKED_SCORE, np.float32)
    scores[:, 3] = 0.0
    metric = CatalogueCoverage(num_scores=6, num_items=4, cutoff=5)
    assert _result(metric, [3, 3, 3, 3], scores) == pytest.approx(1 / 4)


def test_coverage_of_a_model_with_another_catalogue_counts_the_ids_the_new_one_has():
    # The served model of an earlier span: 5 ids (3 items) against the new catalogue's 6.
    smaller = np.array([[MASKED_SCORE, 0.9, 0.8, 0.7, MASKED_SCORE]], np.float32)
    metric = CatalogueCoverage(num_scores=6, num_items=4, cutoff=3)
    assert _result(metric, [1], smaller) == pytest.approx(3 / 4)
    # A larger one: its ids from 6 on are not counted.
    larger = np.array([[MASKED_SCORE, 0.1, 0.2, 0.3, 0.4, 0.5, 0.9, MASKED_SCORE]], np.float32)
    metric = CatalogueCoverage(num_scores=6, num_items=4, cutoff=2)
    assert _result(metric, [1], larger) == pytest.approx(1 / 4)  # ids 6 (dropped) and 5


# --- merging and serialization ----------------------------------------------------------


def _metrics() -> list[tf.keras.metrics.Metric]:
    return [
        HitRate(cutoff=100),
        NDCGAtCutoff(cutoff=100),
        NDCGAtCutoff(cutoff=20, sampled_negatives=50, seed=4),
        CatalogueCoverage(num_scores=300, num_items=298, cutoff=5),
    ]


def test_summed_weights_of_partial_metrics_give_the_whole_result():
    """What TFMA does: update per batch, sum the weights elementwise, set them, result."""
    targets, scores = _random_rows(40, 300, seed=5)
    weights = np.random.default_rng(6).random(40).astype(np.float32)
    for whole, first, second, merged in zip(
        _metrics(), _metrics(), _metrics(), _metrics(), strict=True
    ):
        whole.update_state(targets, scores, weights)
        first.update_state(targets[:15], scores[:15], weights[:15])
        second.update_state(targets[15:], scores[15:], weights[15:])
        merged.set_weights(
            [a + b for a, b in zip(first.get_weights(), second.get_weights(), strict=True)]
        )
        assert float(merged.result()) == pytest.approx(float(whole.result()), abs=1e-6)
        assert 0 < float(whole.result()) < 1
        merged.reset_state()
        assert float(merged.result()) == 0.0


def test_graph_mode_matches_eager_and_configs_round_trip():
    targets, scores = _random_rows(20, 300, seed=7)
    for eager, traced in zip(_metrics(), _metrics(), strict=True):
        eager.update_state(targets, scores)

        def update(y_true, y_pred, metric=traced) -> None:
            metric.update_state(y_true, y_pred)

        tf.function(update)(tf.constant(targets), tf.constant(scores))
        assert float(traced.result()) == pytest.approx(float(eager.result()), abs=1e-6)
        rebuilt = tf.keras.metrics.deserialize(tf.keras.metrics.serialize(eager))
        assert type(rebuilt) is type(eager)
        assert rebuilt.get_config() == eager.get_config()


# --- TFMA ------------------------------------------------------------------------------


def test_class_names_are_not_shadowed_by_tfma_metrics():
    """TFMA resolves a MetricConfig's class name in its own registry before the module."""
    names = {HitRate.__name__, NDCGAtCutoff.__name__, CatalogueCoverage.__name__}
    assert not names & set(metric_types.registered_metrics())


def test_tfma_reports_the_metrics_as_computed_directly(tmp_path):
    num_scores = 30
    targets, scores = _random_rows(12, num_scores, seed=8)
    configs = {
        "HitRate": {"name": "hit_rate", "cutoff": 5},
        "NDCGAtCutoff": {"name": "ndcg_sampled", "cutoff": 5, "sampled_negatives": 10, "seed": 3},
        "CatalogueCoverage": {"num_scores": num_scores, "num_items": num_scores - 2, "cutoff": 3},
    }
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="target", prediction_key="scores")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(
                        class_name=class_name,
                        module="aet.components.ranking_metrics",
                        config=json.dumps(config),
                    )
                    for class_name, config in configs.items()
                ]
            )
        ],
    )
    output = evaluate_predictions(eval_config, targets.tolist(), scores.tolist(), str(tmp_path))
    ((slice_key, by_output),) = tfma.load_eval_result(output).slicing_metrics
    assert slice_key == ()
    reported = {name: value["doubleValue"] for name, value in by_output[""][""].items()}
    # Without a name in its config, TFMA names a metric after its class, in snake case.
    assert set(reported) == {"hit_rate", "ndcg_sampled", "catalogue_coverage"}
    expected = {
        "hit_rate": _result(HitRate(cutoff=5), targets, scores),
        "ndcg_sampled": _result(
            NDCGAtCutoff(cutoff=5, sampled_negatives=10, seed=3), targets, scores
        ),
        "catalogue_coverage": _result(
            CatalogueCoverage(num_scores, num_scores - 2, cutoff=3), targets, scores
        ),
    }
    assert reported == pytest.approx(expected, abs=1e-6)
    assert 0 < expected["hit_rate"] < 1 and 0 < expected["ndcg_sampled"] < 1


def test_the_ranking_metrics_get_bootstrap_intervals(tmp_path):
    """A recommender's Evaluator computes intervals by default: its own combiners must
    merge on TFMA's resamples as they do on the whole split."""
    targets, scores = _random_rows(60, 30, seed=4)
    metric = tfma.MetricConfig(
        class_name="HitRate",
        module="aet.components.ranking_metrics",
        config=json.dumps({"name": "hit_rate", "cutoff": 5}),
    )
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="target", prediction_key="scores")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[metric])],
        options=tfma.Options(
            compute_confidence_intervals={"value": True},
            confidence_intervals={"method": tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP},
        ),
    )
    output = evaluate_predictions(
        eval_config, targets.tolist(), scores.tolist(), str(tmp_path), intervals=True
    )
    ((_, by_output),) = tfma.load_eval_result(output).slicing_metrics
    bounded = by_output[""][""]["hit_rate"]["boundedValue"]
    assert bounded["value"] == pytest.approx(_result(HitRate(cutoff=5), targets, scores))
    assert bounded["lowerBound"] < bounded["value"] < bounded["upperBound"]
