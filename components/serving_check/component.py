"""The ServingCheck component: runs the serving check (check.py) between the Evaluator
and the Pusher.

It emits the InfraBlessing the Pusher requires; a model that passes and that the
Evaluator blessed is staged in it with its warm-up file and its model card
(report/model_card.py), which is what gets pushed.
`serving_check.json` in the artifact says what was checked and why a model failed.
"""

# No `from __future__ import annotations`: TFX reads the component's type hints at runtime.
import json
import os
from dataclasses import asdict

from tfx.components.util import model_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact, standard_artifacts
from tfx.utils import io_utils, path_utils

from aet.components.evaluation_results import read_intervals, read_metrics
from aet.components.explanations.component import GlobalExplanation, read_global_explanation
from aet.components.export.warmup import write_warmup_file
from aet.components.serving_check.check import REPORT_FILE, check_model
from aet.components.split_records import first_records
from aet.components.trainer import HISTORY_FILE
from aet.config import DomainConfig
from aet.config.kinds import kind_of
from aet.report.model_card import build_card, write_card
from aet.report.run_record import read_statistics


def model_card(
    config: DomainConfig,
    evaluation: artifact.Artifact,
    statistics: artifact.Artifact,
    model_run: artifact.Artifact,
    split: str,
    model: artifact.Artifact,
    default_data: bool = False,
    explanations: artifact.Artifact | None = None,
) -> dict:
    """The card of the model the Evaluator judged, from what the pipeline recorded."""
    history_path = os.path.join(model_run.uri, HISTORY_FILE)
    history = None
    if fileio.exists(history_path):
        with fileio.open(history_path) as handle:
            history = json.load(handle)
    return build_card(
        config,
        metrics=read_metrics(evaluation.uri, config),
        intervals=read_intervals(evaluation.uri, config),
        statistics=read_statistics(statistics.uri),
        training=history,
        split=split,
        default_data=default_data,
        # Artifact ids, not paths: a path would tell where the user keeps their runs.
        lineage={"model_artifact_id": str(model.id), "evaluation_artifact_id": str(evaluation.id)},
        explanations=read_global_explanation(explanations.uri) if explanations else None,
    )


@component
def ServingCheck(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    blessing: OutputArtifact[standard_artifacts.InfraBlessing],
    domain_config: Parameter[str],
    split: Parameter[str],
    evaluated_split: Parameter[str],
    default_data: Parameter[int],
    explanations: InputArtifact[GlobalExplanation] = None,  # optional: a default of None
) -> None:
    config = DomainConfig.parse_raw(domain_config)
    model_dir = path_utils.serving_model_path(model.uri)
    held_out = first_records(examples.uri, split, config.serving.check.warmup_examples)
    # The check and the warm-up file run on look-alikes: no held-out row ships.
    records = kind_of(config).synthetic_examples(config, held_out, config.training.seed)
    report, logs = check_model(model_dir, config, records)
    report.evaluator_blessed = model_utils.is_model_blessed(model_blessing)
    if report.passed and report.evaluator_blessed:
        staged = path_utils.stamped_model_path(blessing.uri)
        io_utils.copy_dir(model_dir, staged)
        write_warmup_file(path_utils.warmup_file_path(staged), logs)
        card = model_card(
            config,
            evaluation,
            statistics,
            model_run,
            evaluated_split,
            model,
            bool(default_data),
            explanations,
        )
        write_card(os.path.dirname(path_utils.warmup_file_path(staged)), card)
        blessing.set_int_custom_property("has_model", 1)
        report.staged = True
    blessing.set_int_custom_property("blessed", int(report.passed))
    io_utils.write_string_file(
        os.path.join(blessing.uri, "INFRA_BLESSED" if report.passed else "INFRA_NOT_BLESSED"), ""
    )
    with fileio.open(os.path.join(blessing.uri, REPORT_FILE), "w") as handle:
        json.dump(asdict(report), handle, indent=2)
