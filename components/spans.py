"""Spans: the batches of data an output folder has trained on, in the order they came.

Each span is a folder `span-NNNN/` under `<output>/spans/` (pipelines/spans.py stages
them). Every ExampleGen reads one span through TFX's own span machinery: a `{SPAN}`
pattern and a static RangeConfig naming the span, so the Examples artifact carries its
span number in MLMD, and TFX's SpanRangeStrategy can resolve the window of recent spans
a run trains on.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.proto import example_gen_pb2, range_config_pb2

SPAN_WIDTH = 4
SPAN_FOLDER = "span-{:0" + str(SPAN_WIDTH) + "d}"  # span-0003
SPAN_SPEC = "span-{SPAN:" + str(SPAN_WIDTH) + "}"  # what ExampleGen matches it with


@dataclass(frozen=True)
class SpanInput:
    """One span to read: the folder holding every `span-NNNN/`, and the span's number."""

    root: str
    number: int


def example_input(
    split_patterns: dict[str, str], span: SpanInput | None = None
) -> tuple[example_gen_pb2.Input, range_config_pb2.RangeConfig | None]:
    """ExampleGen's input config over each split's pattern, and its range config: for a
    `span`, each pattern is relative to the span's folder, under the span spec, and the
    range is that span alone; without one, the patterns as they are and no range."""
    prefix = f"{SPAN_SPEC}/" if span is not None else ""
    input_config = example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(name=name, pattern=prefix + pattern)
            for name, pattern in split_patterns.items()
        ]
    )
    if span is None:
        return input_config, None
    return input_config, static_range(span.number, span.number)


def static_range(first: int, last: int) -> range_config_pb2.RangeConfig:
    return range_config_pb2.RangeConfig(
        static_range=range_config_pb2.StaticRange(start_span_number=first, end_span_number=last)
    )


def span_of(store: mlmd.MetadataStore, artifact: metadata_store_pb2.Artifact) -> int | None:
    """An artifact's span: the custom property ExampleGen sets on its Examples, or for
    an artifact made from Examples (StatisticsGen's statistics, whose `span` property
    TFX 1.15 leaves at 0) the span of the Examples its execution read."""
    if "span" in artifact.custom_properties:
        value = artifact.custom_properties["span"]
        return int(value.string_value) if value.string_value else value.int_value
    outputs = store.get_events_by_artifact_ids([artifact.id])
    producers = [e.execution_id for e in outputs if e.type == metadata_store_pb2.Event.OUTPUT]
    inputs = [
        event.artifact_id
        for event in store.get_events_by_execution_ids(producers)
        if event.type == metadata_store_pb2.Event.INPUT
    ]
    for read in store.get_artifacts_by_id(inputs):
        if "span" in read.custom_properties:
            return span_of(store, read)
    return None


class SpanStrategy(resolver.ResolverStrategy):
    """Resolves, for each input, the newest artifact of every span from `first` to
    `last` (newest span first), at most `most` spans (0: all): the window of Examples a
    run trains on, or the previous span's ExampleStatistics (`most=1`). TFX's
    SpanRangeStrategy keeps every artifact of a span, so a span run again without the
    cache would count twice, and it knows the span of Examples only."""

    def __init__(self, first: int, last: int, most: int = 0) -> None:
        self.first, self.last, self.most = first, last, most

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        resolved = {}
        for key, artifacts in input_dict.items():
            newest: dict[int, types.Artifact] = {}
            for artifact in artifacts:
                span = span_of(store, artifact.mlmd_artifact)
                if span is None or not self.first <= span <= self.last:
                    continue
                if span not in newest or artifact.id > newest[span].id:
                    newest[span] = artifact
            spans = sorted(newest, reverse=True)[: self.most or None]
            resolved[key] = [newest[span] for span in spans]
        return resolved if all(resolved.values()) else None
