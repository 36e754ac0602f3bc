"""kinds/interactions/evaluation.py: a recommender and its two baselines scored by the
same declared ranking metrics, only the recommender gated."""

from __future__ import annotations

import json

from aet.config.contract import RECOMMENDER_OUTPUT
from aet.kinds.interactions.baselines import BASELINE_OUTPUTS
from aet.kinds.interactions.evaluation import ranking_eval_config
from aet.pipelines.domains import load_domain


def test_the_model_and_both_baselines_share_the_metrics_and_only_the_model_is_gated():
    config = load_domain("recommendation")
    eval_config = ranking_eval_config(config, "target_item_xf")
    (spec,) = eval_config.model_specs
    assert dict(spec.label_keys) == dict.fromkeys(
        [RECOMMENDER_OUTPUT, *BASELINE_OUTPUTS], "target_item_xf"
    )
    gated, baselines = eval_config.metrics_specs
    assert list(gated.output_names) == [RECOMMENDER_OUTPUT]
    assert list(baselines.output_names) == list(BASELINE_OUTPUTS)
    names = [m.class_name for m in gated.metrics]
    assert names == [m.class_name for m in baselines.metrics]
    assert any(m.per_slice_thresholds for m in gated.metrics)
    assert not any(m.per_slice_thresholds for m in baselines.metrics)
    # Coverage is sized when the Evaluator runs, by the catalogue the ingestion found.
    for spec in (gated, baselines):
        (coverage,) = [m for m in spec.metrics if m.class_name == "CatalogueCoverage"]
        assert "num_items" not in json.loads(coverage.config)
