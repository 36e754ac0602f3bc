"""The run summary: what a run did, read back from ML Metadata and the artifacts.

Every orchestrator records its executions in MLMD, so the summary is built the same way
for the local and Beam runners: the latest pipeline-run context, the executions in it
(run or cached), and the Evaluator's and Pusher's outputs.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from aet.components.drift.validation import (
    DRIFT_REFERENCES,
    SKEW_SPLITS,
    read_drift,
    validator_id,
)
from aet.components.evaluation_results import (
    BASELINE,
    failed_thresholds,
    read_confusion_matrix,
    read_curves,
    read_intervals,
    read_metrics,
)
from aet.components.explanations.component import read_global_explanation
from aet.components.export.server_config import BATCHING_FILE, MODELS_CONFIG
from aet.components.files import write_atomically
from aet.components.heat_maps.component import INDEX_FILE as HEAT_MAPS_INDEX
from aet.components.ingestion_report import report_if_any
from aet.components.pusher.executor import BASELINE_MODEL_KEY, NOT_PUSHED_BECAUSE
from aet.components.served_baseline.component import SERVED_VERSION
from aet.components.serving_check.check import read_report as read_serving_check
from aet.components.spans import span_of
from aet.components.trainer import HISTORY_FILE
from aet.config import DomainConfig, tunable_values
from aet.config.metrics import keras_mode
from aet.report.run_record import SUMMARY_FILE

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
}


def _latest_run(store: metadata_store.MetadataStore, pipeline: str):
    runs = [
        context
        for context in store.get_contexts_by_type("pipeline_run")
        if context.properties["pipeline_name"].string_value in ("", pipeline)
    ]
    return max(
        runs, key=lambda context: (context.create_time_since_epoch, context.id), default=None
    )


def _node_id(store: metadata_store.MetadataStore, execution_id: int) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if store.get_context_types_by_id([context.type_id])[0].name == "node":
            return context.name.rsplit(".", 1)[-1]
    return "unknown"


# The drift validators' nodes, and the summary key of each one's drift.
_DRIFT_NODES = {validator_id(reference): key for reference, key in DRIFT_REFERENCES.items()}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def _artifacts(
    store: metadata_store.MetadataStore, execution_id: int, event_types: tuple
) -> dict[str, list]:
    """An execution's artifacts of the given event types, by input or output key."""
    found: dict[str, list] = {}
    events = [
        event
        for event in store.get_events_by_execution_ids([execution_id])
        if event.type in event_types
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        found.setdefault(key, []).append(artifacts[event.artifact_id])
    return found


def _outputs(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list]:
    return _artifacts(store, execution_id, _OUTPUT_EVENTS)


def _spans(store: metadata_store.MetadataStore, artifacts: list) -> list[int]:
    """The span numbers of Examples or ExampleStatistics artifacts, newest first."""
    spans = {span_of(store, artifact) for artifact in artifacts}
    return sorted((span for span in spans if span is not None), reverse=True)


def read_tuning(config: DomainConfig, tuner_results_uri: str) -> dict:
    """Every completed trial's hyperparameters, score and most epochs, best first (TFX's
    Tuner writes them as tuner_results.json), the config's own values (the first trial),
    and what the search was allowed."""
    with tf.io.gfile.GFile(os.path.join(tuner_results_uri, "tuner_results.json")) as handle:
        results = json.load(handle)
    tuning = config.tuning
    trials = [
        {
            "trial_id": result["trial_id"],
            "score": result["score"],
            "max_epochs": result.get("tuner/epochs", tuning.epochs_per_trial),
            "hyperparameters": tunable_values(result),
        }
        for result in results
    ]
    return {
        "strategy": tuning.strategy,
        "objective": config.tuning_objective,
        "direction": keras_mode(config.tuning_objective),
        "config_values": config.searched_values(),
        "budget": {
            "max_trials": tuning.max_trials,
            "epochs_per_trial": tuning.epochs_per_trial,
            "max_wall_clock_s": tuning.max_wall_clock_s,
        },
        "trials": trials,
    }


def training_section(history: dict, history_file: str) -> dict:
    """The Trainer's history.json, shortened to the last epoch's metrics (the file has
    every epoch); the elastic events stay whole, and `resumed_from` names the checkpoint
    an interrupted Trainer continued from."""
    return {
        "epochs_run": history["epochs_run"],
        "steps_per_epoch": history.get("steps_per_epoch"),
        "fit_seconds": history.get("fit_seconds"),
        "class_weights": history["class_weights"],
        "final": {k: round(v[-1], 6) for k, v in history["history"].items()},
        "events": history.get("events", []),
        "resumed_from": history.get("resumed_from"),
        "hyperparameters": history.get("hyperparameters", {}),
        "history_file": history_file,
    }


def collect_summary(config: DomainConfig, metadata_path: str) -> dict:
    """The summary of the latest run recorded in the MLMD database at `metadata_path`."""
    from aet.pipelines.factory import pipeline_name

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    run = _latest_run(store, pipeline_name(config))
    summary = {
        "domain": config.name,
        "config": json.loads(config.json()),
        "blessed": False,
        "metrics": {},
        "baseline": {"source": "none"} if config.evaluation.baseline == "none" else None,
        "pushed_model_dir": None,
        "components": {},
        "component_seconds": {},
    }
    if run is None:
        return summary
    summary["run_id"] = run.name
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        node = _node_id(store, execution.id)
        summary["components"][node] = _STATES.get(execution.last_known_state, "other")
        seconds = execution.last_update_time_since_epoch - execution.create_time_since_epoch
        summary["component_seconds"][node] = round(seconds / 1000, 1)
        outputs = _outputs(store, execution.id)
        if node.endswith("ExampleGen") and outputs.get("examples"):
            summary["examples_dir"] = outputs["examples"][0].uri
            ingestion = report_if_any(summary["examples_dir"])
            if ingestion is not None:
                summary["ingestion"] = ingestion
        elif node == "StatisticsGen" and outputs.get("statistics"):
            summary["statistics_dir"] = outputs["statistics"][0].uri
        elif node.endswith("SchemaGen") and outputs.get("schema"):
            summary["schema_dir"] = outputs["schema"][0].uri
        elif node == "ExampleValidator" and outputs.get("anomalies"):
            summary["anomalies_dir"] = outputs["anomalies"][0].uri
        elif node == "Transform" and outputs.get("transform_graph"):
            summary["transform_graph_dir"] = outputs["transform_graph"][0].uri
            inputs = _artifacts(store, execution.id, _INPUT_EVENTS)
            summary["trained_on_spans"] = _spans(store, inputs.get("examples", []))
        elif node == "serving_skew_validator" and outputs.get("anomalies"):
            summary["skew"] = read_drift(outputs["anomalies"][0].uri, SKEW_SPLITS)
        elif node in _DRIFT_NODES and outputs.get("anomalies"):
            drift = read_drift(outputs["anomalies"][0].uri)
            if drift is not None:
                inputs = _artifacts(store, execution.id, _INPUT_EVENTS)
                against = _spans(store, inputs.get("baseline_statistics", []))
                summary[_DRIFT_NODES[node]] = {
                    "against_span": against[0] if against else None,
                    **drift,
                }
        elif node == "served_baseline" and outputs.get("baseline"):
            served = outputs["baseline"][0].custom_properties[SERVED_VERSION].string_value
            summary["baseline"] = {"source": "served", "path": served}
        elif node == "Evaluator":
            blessing = outputs.get("blessing", [None])[0]
            summary["blessed"] = bool(blessing and blessing.custom_properties["blessed"].int_value)
            if (
                summary["baseline"] is None
                and blessing
                and (BASELINE_MODEL_KEY in blessing.custom_properties)
            ):
                blessed_model = blessing.custom_properties[BASELINE_MODEL_KEY].string_value
                summary["baseline"] = {"source": "blessed", "path": blessed_model}
            if not outputs.get("evaluation"):  # the Evaluator failed
                continue
            evaluation_uri = outputs["evaluation"][0].uri
            summary["evaluation_dir"] = evaluation_uri
            summary["metrics"] = read_metrics(evaluation_uri, config)
            intervals = read_intervals(evaluation_uri, config)
            if intervals:
                summary["metric_intervals"] = intervals
            if blessing and BASELINE_MODEL_KEY in blessing.custom_properties:
                judged_against = read_metrics(evaluation_uri, config, model=BASELINE)
                summary["baseline_metrics"] = judged_against.get("overall", {})
            curves = read_curves(evaluation_uri)
            if curves:
                summary["curves"] = curves
            classes = config.features.label.classes if config.features.label else []
            matrix = read_confusion_matrix(evaluation_uri, classes) if len(classes) > 2 else None
            if matrix:
                summary["confusion_matrix"] = {"classes": classes, "counts": matrix}
            if not summary["blessed"]:
                summary["not_blessed_because"] = failed_thresholds(evaluation_uri)
        elif node == "Pusher" and outputs.get("pushed_model"):
            pushed = outputs["pushed_model"][0]
            if pushed.custom_properties["pushed"].int_value:
                summary["pushed_model_dir"] = pushed.custom_properties[
                    "pushed_destination"
                ].string_value
            elif NOT_PUSHED_BECAUSE in pushed.custom_properties:
                refusal = pushed.custom_properties[NOT_PUSHED_BECAUSE].string_value
                summary["not_pushed_because"] = refusal
        elif node == "Tuner" and outputs.get("tuner_results"):
            summary["tuning"] = read_tuning(config, outputs["tuner_results"][0].uri)
        elif node == "ServingCheck" and outputs.get("blessing"):
            summary["serving_check"] = read_serving_check(outputs["blessing"][0].uri)
        elif node == "Explanations" and outputs.get("explanations"):
            summary["explanations"] = read_global_explanation(outputs["explanations"][0].uri)
        elif node == "HeatMaps" and outputs.get("heat_maps"):
            summary["heat_maps"] = {"dir": outputs["heat_maps"][0].uri}
        elif node == "Trainer" and outputs.get("model_run"):
            history_path = os.path.join(outputs["model_run"][0].uri, HISTORY_FILE)
            if tf.io.gfile.exists(history_path):
                with tf.io.gfile.GFile(history_path) as handle:
                    summary["training"] = training_section(json.load(handle), history_path)
    if summary["pushed_model_dir"]:
        summary["server_config"] = server_config_files(summary["pushed_model_dir"])
    return summary


def server_config_files(pushed_model_dir: str) -> dict[str, str]:
    """models.config and the batching file, two levels above a pushed version."""
    serving_root = os.path.dirname(os.path.dirname(pushed_model_dir.rstrip("/")))
    return {
        "models_config": os.path.join(serving_root, MODELS_CONFIG),
        "batching_parameters": os.path.join(serving_root, BATCHING_FILE),
    }


def publish_heat_maps(summary: dict, output_dir: str) -> None:
    """Copies the HeatMaps component's PNGs to `<output_dir>/heat_maps/`, beside the run
    summary (replacing an earlier run's), and lists what each shows in the summary."""
    produced = summary.get("heat_maps")
    if not produced or not tf.io.gfile.exists(os.path.join(produced["dir"], HEAT_MAPS_INDEX)):
        return
    target = os.path.join(output_dir, "heat_maps")
    if tf.io.gfile.exists(target):
        tf.io.gfile.rmtree(target)
    tf.io.gfile.makedirs(target)
    for name in tf.io.gfile.listdir(produced["dir"]):
        tf.io.gfile.copy(os.path.join(produced["dir"], name), os.path.join(target, name))
    with tf.io.gfile.GFile(os.path.join(target, HEAT_MAPS_INDEX)) as handle:
        summary["heat_maps"] = {
            "dir": target,
            "artifact": produced["dir"],
            "images": json.load(handle),
        }


def write_summary(summary: dict, output_dir: str) -> str:
    path = os.path.join(output_dir, SUMMARY_FILE)
    tf.io.gfile.makedirs(output_dir)
    write_atomically(path, json.dumps(summary, indent=2, sort_keys=False))
    return path
