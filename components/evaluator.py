"""The pipeline's Evaluator: TFX's own, whose metric settings that only the data can give
are filled in when it runs.

A recommender's coverage is a share of its catalogue, and the catalogue (the distinct
items of the training split) is known once the log is ingested, which happens inside the
pipeline (InteractionsExampleGen). The executor reads the ingestion report from the
Examples it evaluates and completes each metric config by its declaration
(config/metrics.sized_by_ingestion) before TFMA runs; everything else is TFX's.

It also leaves out the outputs some evaluated model does not answer: a tabular model's
baselines are outputs of its `serve_examples`, and a served version exported before
they existed (or a model whose training rows held one class) has none, which TFMA
would otherwise fail on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.components import Evaluator as TfxEvaluator
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.components.base import executor_spec
from tfx.types import Artifact, artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

from aet.components.export.signatures import read_saved_model
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


def answered_outputs(model: Artifact, signature: str) -> set[str]:
    """The outputs `signature` of the SavedModel in a Model artifact answers."""
    path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    saved = read_saved_model(path)
    return set(saved.meta_graphs[0].signature_def[signature].outputs)


def only_answered_outputs(eval_config: tfma.EvalConfig, answered: set[str]) -> tfma.EvalConfig:
    """`eval_config` without the outputs not in `answered` and the metrics of theirs; when
    the model's own output is left alone, it is read as TFMA reads a single output (a
    one-output dict reaches the metrics as a bare tensor)."""
    (spec,) = eval_config.model_specs
    kept = [name for name in spec.label_keys if name in answered]
    if len(kept) == len(spec.label_keys):
        return eval_config
    logging.warning(
        "evaluating without the output(s) %s, which an evaluated model does not answer",
        sorted(set(spec.label_keys) - set(kept)),
    )
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    metrics_specs = [m for m in config.metrics_specs if set(m.output_names) <= set(kept)]
    del config.metrics_specs[:]
    config.metrics_specs.extend(metrics_specs)
    (model_spec,) = config.model_specs
    labels = dict(model_spec.label_keys)
    model_spec.ClearField("label_keys")
    if len(kept) == 1:
        (output,) = kept
        model_spec.label_key, model_spec.prediction_key = labels[output], output
        for metrics_spec in config.metrics_specs:
            metrics_spec.ClearField("output_names")
    else:
        model_spec.label_keys.update({name: labels[name] for name in kept})
    return config


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
        (model_spec,) = completed.model_specs
        if model_spec.label_keys:
            models = [
                artifact_utils.get_single_instance(input_dict[name])
                for name in (
                    standard_component_specs.MODEL_KEY,
                    standard_component_specs.BASELINE_MODEL_KEY,
                )
                if input_dict.get(name)
            ]
            answered = set.intersection(
                *(answered_outputs(m, model_spec.signature_name) for m in models)
            )
            completed = only_answered_outputs(completed, answered)
        super().Do(
            input_dict, output_dict, {**exec_properties, key: proto_utils.proto_to_json(completed)}
        )


class Evaluator(TfxEvaluator):
    """TFX's Evaluator with the executor above; its inputs and outputs are TFX's."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
