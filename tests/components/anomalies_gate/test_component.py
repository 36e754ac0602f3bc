"""`components.anomalies_gate`: reading ExampleValidator's output and stopping the run."""

from __future__ import annotations

import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

from aet.components.anomalies_gate.component import (
    ANOMALIES_FILE,
    AnomaliesGate,
    DataAnomaliesError,
    describe_anomalies,
)


def _anomalies(**features: tuple[str, str]) -> anomalies_pb2.Anomalies:
    """Anomalies with one entry per feature: name=(description, short_description)."""
    proto = anomalies_pb2.Anomalies()
    for name, (description, short) in features.items():
        info = proto.anomaly_info[name]
        info.description = description
        info.short_description = short
        info.severity = anomalies_pb2.AnomalyInfo.ERROR
    return proto


def _artifact(root, per_split: dict[str, anomalies_pb2.Anomalies]) -> ExampleAnomalies:
    """An ExampleAnomalies artifact laid out as ExampleValidator writes it."""
    artifact = ExampleAnomalies()
    artifact.uri = os.fspath(root)
    artifact.split_names = artifact_utils.encode_split_names(list(per_split))
    for split, proto in per_split.items():
        folder = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, ANOMALIES_FILE), "wb") as handle:
            handle.write(proto.SerializeToString())
    return artifact


def test_files_are_where_example_validator_writes_them(tmp_path):
    from tfx.components.example_validator import executor

    assert executor.DEFAULT_FILE_NAME == ANOMALIES_FILE
    artifact = _artifact(tmp_path, {"train": _anomalies()})
    assert (tmp_path / "Split-train" / ANOMALIES_FILE).is_file()
    assert describe_anomalies(artifact) == []


def test_one_readable_line_per_split_and_feature(tmp_path):
    artifact = _artifact(
        tmp_path,
        {
            "train": _anomalies(
                purpose=("Examples contain values missing from the schema: boat.", "Unexpected"),
                age_in_years=("", "Out-of-range values"),
            ),
            "eval": _anomalies(),
        },
    )
    lines = describe_anomalies(artifact)
    assert lines == [
        "[train] age_in_years: Out-of-range values",  # no description: the short one
        "[train] purpose: Examples contain values missing from the schema: boat.",
    ]


def test_every_split_is_read(tmp_path):
    artifact = _artifact(
        tmp_path,
        {
            "train": _anomalies(housing=("Unexpected string values.", "")),
            "eval": _anomalies(job=("Column dropped.", "")),
        },
    )
    lines = describe_anomalies(artifact)
    assert sorted(lines) == [
        "[eval] job: Column dropped.",
        "[train] housing: Unexpected string values.",
    ]


def test_dataset_level_anomalies_are_reported(tmp_path):
    proto = anomalies_pb2.Anomalies()
    proto.dataset_anomaly_info.description = "Low number of examples."
    artifact = _artifact(tmp_path, {"train": proto})
    assert describe_anomalies(artifact) == ["[train] (dataset): Low number of examples."]


def test_the_component_function_stops_the_run_with_every_anomaly(tmp_path):
    artifact = _artifact(
        tmp_path,
        {
            "train": _anomalies(purpose=("Unexpected string values.", "")),
            "eval": _anomalies(job=("Column dropped.", "")),
        },
    )
    with pytest.raises(DataAnomaliesError) as raised:
        AnomaliesGate.test_call(anomalies=artifact)
    message = str(raised.value)
    assert "2 anomalies" in message
    assert "[train] purpose: Unexpected string values." in message
    assert "[eval] job: Column dropped." in message


def test_the_component_function_passes_clean_data(tmp_path):
    artifact = _artifact(tmp_path, {"train": _anomalies(), "eval": _anomalies()})
    assert AnomaliesGate.test_call(anomalies=artifact) is None


def test_the_executor_the_orchestrator_runs_applies_the_gate(tmp_path):
    executor = AnomaliesGate.EXECUTOR_SPEC.executor_class()
    clean = _artifact(tmp_path / "clean", {"train": _anomalies()})
    executor.Do({"anomalies": [clean]}, {}, {})
    bad = _artifact(tmp_path / "bad", {"train": _anomalies(purpose=("Unexpected.", ""))})
    with pytest.raises(DataAnomaliesError, match=r"\[train\] purpose: Unexpected\."):
        executor.Do({"anomalies": [bad]}, {}, {})


def test_the_component_consumes_example_anomalies():
    spec = AnomaliesGate.SPEC_CLASS
    assert spec.INPUTS["anomalies"].type is ExampleAnomalies
    assert not spec.OUTPUTS
