"""`components.spans`: the span patterns ExampleGen reads, and the span resolver, on a
real (in-memory) ML Metadata store."""

from __future__ import annotations

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.types.standard_artifacts import Examples, ExampleStatistics

from aet.components.spans import SPAN_FOLDER, SpanInput, SpanStrategy, example_input


@pytest.fixture()
def store() -> mlmd.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return mlmd.MetadataStore(config)


def _put(store: mlmd.MetadataStore, artifact) -> None:
    """Records `artifact` in `store`, giving it its id."""
    proto = artifact.mlmd_artifact
    proto.type_id = store.put_artifact_type(artifact.artifact_type)
    artifact.id = store.put_artifacts([proto])[0]


def _examples(store: mlmd.MetadataStore, span: int) -> Examples:
    """Examples as ExampleGen leaves them: the span in a custom property only."""
    examples = Examples()
    examples.set_int_custom_property("span", span)
    _put(store, examples)
    return examples


def _statistics_of(store: mlmd.MetadataStore, examples: Examples) -> ExampleStatistics:
    """StatisticsGen's output for `examples`, linked to them through its execution."""
    statistics = ExampleStatistics()
    _put(store, statistics)
    execution_type = metadata_store_pb2.ExecutionType(name="StatisticsGen")
    execution = metadata_store_pb2.Execution(type_id=store.put_execution_type(execution_type))
    [execution_id] = store.put_executions([execution])
    store.put_events(
        [
            metadata_store_pb2.Event(
                artifact_id=artifact.id, execution_id=execution_id, type=event_type
            )
            for artifact, event_type in (
                (examples, metadata_store_pb2.Event.INPUT),
                (statistics, metadata_store_pb2.Event.OUTPUT),
            )
        ]
    )
    return statistics


def test_a_span_is_read_through_tfx_span_spec_and_a_range_of_itself() -> None:
    input_config, range_config = example_input({"all": "*.csv"}, SpanInput("/out/spans", 7))
    assert [split.pattern for split in input_config.splits] == ["span-{SPAN:4}/*.csv"]
    assert range_config.static_range.start_span_number == 7
    assert range_config.static_range.end_span_number == 7
    assert SPAN_FOLDER.format(7) == "span-0007"  # what {SPAN:4} matches for span 7
    plain, no_range = example_input({"all": "data.csv"})
    assert [split.pattern for split in plain.splits] == ["data.csv"] and no_range is None


def test_the_window_keeps_the_newest_artifact_of_each_span_newest_first(store) -> None:
    artifacts = [_examples(store, span) for span in (1, 2, 3, 4, 2)]  # span 2 run twice
    resolved = SpanStrategy(first=2, last=3).resolve_artifacts(store, {"examples": artifacts})
    assert [a.id for a in resolved["examples"]] == [artifacts[2].id, artifacts[4].id]


def test_the_previous_spans_statistics_are_found_through_their_examples(store) -> None:
    statistics = [_statistics_of(store, _examples(store, span)) for span in (1, 2, 4)]
    strategy = SpanStrategy(first=0, last=3, most=1)  # the run of span 4
    resolved = strategy.resolve_artifacts(store, {"statistics": statistics})
    assert [a.id for a in resolved["statistics"]] == [statistics[1].id]


def test_nothing_in_range_resolves_to_no_inputs(store) -> None:
    statistics = [_statistics_of(store, _examples(store, 3))]
    assert SpanStrategy(first=0, last=2, most=1).resolve_artifacts(store, {"s": statistics}) is None
