"""InteractionsExampleGen: an interaction log is turned into per-user histories inside
the pipeline, by TFX's FileBasedExampleGen with an executor of its own, so a
recommendation domain runs wherever its runner runs (Kubeflow included) and a re-run on
the same log is a cache hit in MLMD (kinds/ingested.py).

Only the log's path goes into the Beam graph: a worker reads it row by row (so an error
names its line), the rows are grouped by user across the workers, and each user's
histories are split leave-last-out (histories.py). The three splits are fixed by the
protocol, so each is an input split over the same log, read once.

The executor writes `ingestion_report.json` into the Examples: users per split, users
skipped, interactions read, and the catalogue (distinct training items), by which the
Evaluator sizes coverage (components/evaluator.py). A malformed row, or a log in which
no user has enough interactions, fails the component naming why.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import apache_beam as beam
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from aet.config import DomainConfig, LogColumnsConfig
from aet.config.contract import LOG_SUFFIXES
from aet.kinds.ingested import (
    REPORT_DIR,
    IngestingExecutor,
    ingestion_settings,
    json_lines,
    settings_config,
)
from aet.kinds.interactions.histories import SPLITS, HistoryReport, InteractionLogError, histories
from aet.kinds.interactions.input import one_log

if TYPE_CHECKING:
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput

COMPONENT_ID = "InteractionsExampleGen"


def interactions_example_gen(
    config: DomainConfig, data_path: str, span: SpanInput | None = None
) -> BaseComponent:
    """The ExampleGen of a recommendation domain over `data_path`: a log file, or a
    folder holding one (told apart by name, so a path only the cluster sees compiles
    too); with `span`, over that span's folder under the spans root."""
    from tfx.components import FileBasedExampleGen
    from tfx.dsl.components.base import executor_spec

    from aet.components.spans import example_input

    is_log = data_path.endswith(LOG_SUFFIXES)
    if span is not None:
        input_base, pattern = span.root, f"*{os.path.splitext(data_path)[1]}" if is_log else "*"
    elif is_log:
        input_base, pattern = os.path.dirname(data_path), os.path.basename(data_path)
    else:
        input_base, pattern = data_path, "*"
    input_config, range_config = example_input(dict.fromkeys(SPLITS, pattern), span)
    settings = {
        "columns": config.data.columns.dict(),
        "min_interactions": config.data.min_interactions,
    }
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=example_gen_pb2.Output(),
        range_config=range_config,
        custom_config=settings_config(settings),
        custom_executor_spec=executor_spec.BeamExecutorSpec(HistoriesExecutor),
    ).with_id(COMPONENT_ID)


class HistoriesExecutor(IngestingExecutor):
    """Reads the one log the input pattern matches, builds every user's histories, and
    reports what it wrote."""

    def collect(self, report_dir: str, splits: list[str], settings: dict) -> HistoryReport:
        counts = dict(json_lines(f"{report_dir}/counts"))
        return HistoryReport(
            users={split: counts.get(split, 0) for split in splits},
            skipped_users=counts.get("skipped", 0),
            interactions=counts.get("interactions", 0),
            catalogue=counts.get("catalogue", 0),
            bad=json_lines(f"{report_dir}/bad"),
        )

    def problems(self, report: HistoryReport, settings: dict) -> str | None:
        return report.problems(settings["min_interactions"])

    def error(self, message: str) -> Exception:
        return InteractionLogError(message)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """Not used: every split comes from one grouping of the whole log by user
        (GenerateExamplesByBeam), not from reading each split's files."""
        raise NotImplementedError("HistoriesExecutor builds its splits in GenerateExamplesByBeam")

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        settings = ingestion_settings(exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input()
        )
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        (pattern,) = {os.path.join(input_base, split.pattern) for split in input_config.splits}
        log = one_log(tf.io.gfile.glob(pattern), pattern)
        made = histories(
            pipeline | "Log" >> beam.Create([log]),
            LogColumnsConfig(**settings["columns"]),
            settings["min_interactions"],
        )
        counted = [
            made["examples"] | "SplitNames" >> beam.Map(lambda kv: kv[0]),
            made["skipped"] | "Skipped" >> beam.Map(lambda _: "skipped"),
            made["interactions"] | "Interactions" >> beam.Map(lambda _: "interactions"),
            made["items"]
            | "Catalogue" >> beam.Distinct()
            | "CatalogueItems" >> beam.Map(lambda _: "catalogue"),
        ]
        report_dir = exec_properties[REPORT_DIR]
        _ = (
            counted
            | "AllCounted" >> beam.Flatten()
            | "Count" >> beam.combiners.Count.PerElement()
            | "CountLines" >> beam.Map(json.dumps)
            | "WriteCounts" >> beam.io.WriteToText(f"{report_dir}/counts", shard_name_template="")
        )
        _ = (
            made["bad"]
            | "BadLines" >> beam.Map(json.dumps)
            | "WriteBad" >> beam.io.WriteToText(f"{report_dir}/bad", shard_name_template="")
        )
        return {
            split: made["examples"]
            | f"Only[{split}]" >> beam.Filter(lambda kv, s=split: kv[0] == s)
            | f"Serialized[{split}]" >> beam.Map(lambda kv: kv[1])
            for split in SPLITS
        }
