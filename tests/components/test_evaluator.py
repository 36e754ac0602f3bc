"""components/evaluator.py: the Evaluator sizes coverage by the catalogue in the
ingestion report of the Examples it evaluates, and leaves every other metric alone."""

from __future__ import annotations

import json

import pytest

from aet.components.evaluation import build_eval_config
from aet.components.evaluator import completed_eval_config, only_answered_outputs
from aet.config.contract import TABULAR_BASELINES
from aet.pipelines.domains import load_domain


def _configs(eval_config, class_name: str) -> list[dict]:
    return [
        json.loads(metric.config)
        for spec in eval_config.metrics_specs
        for metric in spec.metrics
        if metric.class_name == class_name
    ]


def test_coverage_is_sized_by_the_ingested_catalogue_for_the_model_and_its_baselines():
    eval_config = build_eval_config(load_domain("recommendation"))
    completed = completed_eval_config(eval_config, {"catalogue": 100, "interactions": 9})
    sized = _configs(completed, "CatalogueCoverage")
    # The model's spec and the baselines' spec; scores span the catalogue, padding and
    # the out-of-vocabulary id.
    assert len(sized) == 2
    assert all(c["num_items"] == 100 and c["num_scores"] == 102 for c in sized)
    assert all(c["cutoff"] == 10 and c["name"] == "coverage" for c in sized)
    assert _configs(completed, "NDCGAtCutoff") == _configs(eval_config, "NDCGAtCutoff")
    assert "num_items" not in _configs(eval_config, "CatalogueCoverage")[0]  # a copy


def test_coverage_without_an_ingestion_report_is_refused_by_name():
    with pytest.raises(ValueError, match="coverage is sized by the catalogue"):
        completed_eval_config(build_eval_config(load_domain("recommendation")), None)


def test_a_classifiers_config_needs_no_report_and_is_unchanged():
    eval_config = build_eval_config(load_domain("finance_risk"))
    assert completed_eval_config(eval_config, None) == eval_config


def test_outputs_a_judged_model_does_not_answer_are_left_out_of_the_evaluation():
    """A served version exported before the baselines answers `probability` alone: the
    evaluation falls back to the single-output form TFMA reads it in."""
    eval_config = build_eval_config(load_domain("finance_risk"))
    assert only_answered_outputs(eval_config, {"probability", *TABULAR_BASELINES}) == eval_config
    alone = only_answered_outputs(eval_config, {"probability"})
    (model_spec,) = alone.model_specs
    assert not model_spec.label_keys
    assert (model_spec.label_key, model_spec.prediction_key) == ("creditability_xf", "probability")
    (spec,) = alone.metrics_specs  # the baselines' metrics are gone
    assert not spec.output_names and spec.metrics == eval_config.metrics_specs[0].metrics
    one_baseline = only_answered_outputs(eval_config, {"probability", "logistic_regression"})
    assert set(one_baseline.model_specs[0].label_keys) == {"probability", "logistic_regression"}
    assert [list(s.output_names) for s in one_baseline.metrics_specs] == [["probability"]]
