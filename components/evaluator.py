"""The pipeline's Evaluator: TFX's own, whose metric settings that only the data can give
are filled in when it runs.

A recommender's coverage is a share of its catalogue, and the catalogue (the distinct
items of the training split) is known once the log is ingested, which happens inside the
pipeline (InteractionsExampleGen). The executor reads the ingestion report from the
Examples it evaluates and completes each metric config by its declaration
(config/metrics.sized_by_ingestion) before TFMA runs; everything else is TFX's.
"""

from __future__ import annotations

import json
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.components import Evaluator as TfxEvaluator
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from aet.components.ingestion_report import report_if_any
from aet.config.metrics import sized_by_ingestion


def completed_eval_config(eval_config: tfma.EvalConfig, report: dict | None) -> tfma.EvalConfig:
    """`eval_config` with every metric sized by the ingestion `report` (None: none)."""
    completed = tfma.EvalConfig()
    completed.CopyFrom(eval_config)
    for spec in completed.metrics_specs:
        for metric in spec.metrics:
            settings = json.loads(metric.config) if metric.config else {}
            sized = sized_by_ingestion(metric.class_name, settings, report)
            if sized != settings:
                metric.config = json.dumps(sized)
    return completed


class Executor(tfx_evaluator.Executor):
    """TFX's Evaluator executor, on the eval config completed from the Examples' report."""

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        key = standard_component_specs.EVAL_CONFIG_KEY
        eval_config = proto_utils.json_to_proto(exec_properties[key], tfma.EvalConfig())
        completed = completed_eval_config(eval_config, report_if_any(examples.uri))
        super().Do(
            input_dict, output_dict, {**exec_properties, key: proto_utils.proto_to_json(completed)}
        )


class Evaluator(TfxEvaluator):
    """TFX's Evaluator with the executor above; its inputs and outputs are TFX's."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
