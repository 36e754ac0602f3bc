"""A recommender's Evaluator config: the model and its two baselines scored by the same
ranking metrics on the same held-out histories."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from aet.components.evaluation import config_metrics
from aet.config import DomainConfig
from aet.config.contract import RECOMMENDER_OUTPUT
from aet.kinds.interactions.baselines import BASELINE_OUTPUTS


def ranking_eval_config(config: DomainConfig, label_key: str) -> tfma.EvalConfig:
    """The recommender and its two baselines are outputs of one signature, scored by the
    same metrics on the same examples; only the recommender's output is gated."""
    outputs = [RECOMMENDER_OUTPUT, *BASELINE_OUTPUTS]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serve_examples",
                label_keys={output: label_key for output in outputs},
                preprocessing_function_names=["transform_features"],
            )
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=config_metrics(config, gated=True),
                output_names=[RECOMMENDER_OUTPUT],
            ),
            tfma.MetricsSpec(
                metrics=config_metrics(config, gated=False),
                output_names=list(BASELINE_OUTPUTS),
            ),
        ],
        slicing_specs=[tfma.SlicingSpec()],
    )
