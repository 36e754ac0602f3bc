"""Running an ingesting ExampleGen (kinds/ingested.py) in tests: its executor alone, as
its component configures it, or the component alone in a LocalDagRunner pipeline (its
driver resolving spans and fingerprinting files, MLMD caching it)."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf.message import Message
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.types import standard_artifacts, standard_component_specs

from aet.components.ingestion_report import REPORT_FILE


def run_executor(component: BaseComponent, output: Path) -> dict:
    """The component's executor run into `output` on its exec properties (patterns as
    given: no driver); the ingestion report it wrote."""
    from tfx.utils import proto_utils

    properties = {
        name: proto_utils.proto_to_json(value) if isinstance(value, Message) else value
        for name, value in component.exec_properties.items()
        if value is not None
    }
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    executor = component.executor_spec.executor_class()
    executor.Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, properties)
    return json.loads((output / REPORT_FILE).read_text())


def run_alone(root: Path, component: BaseComponent) -> tuple[str, str]:
    """Runs a pipeline of `component` alone under `root`; its last execution's state
    ('complete', 'cached' or 'other'), and the URI of the Examples it wrote or reused."""
    database = str(root / "metadata.sqlite")
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="ingestion",
            pipeline_root=str(root / "tfx"),
            components=[component],
            enable_cache=True,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(database),
        )
    )
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(database))
    execution = max(store.get_executions(), key=lambda e: e.id)
    states = {
        metadata_store_pb2.Execution.COMPLETE: "complete",
        metadata_store_pb2.Execution.CACHED: "cached",
    }
    outputs = [
        event.artifact_id
        for event in store.get_events_by_execution_ids([execution.id])
        if event.type == metadata_store_pb2.Event.OUTPUT
    ]
    (examples,) = store.get_artifacts_by_id(outputs)
    return states.get(execution.last_known_state, "other"), examples.uri
