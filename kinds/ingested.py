"""What the kinds that ingest share: the ExampleGen executor of a kind whose files are
turned into examples inside the pipeline (images, interaction logs) and the ingestion
report it writes into its Examples, and the ImportExampleGen of a plug-in kind that
ingests its own files before the pipeline (`ingested = True`).

An ingesting ExampleGen is TFX's FileBasedExampleGen with an executor of its own: only
file names go into the Beam graph, the workers read and decode, and ExampleGen's driver
fingerprints the files (names, sizes, modification times), so a re-run on the same
files is a cache hit in MLMD. Its Beam job also writes what it counted as JSON lines;
the executor gathers them into the ingestion report beside the splits
(components/ingestion_report.py), then fails
the component on the problems the report shows (a failed ExampleGen publishes nothing,
so no later component reads a partial ingestion).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import tensorflow as tf
from google.protobuf import any_pb2, struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from aet.components.ingestion_report import write_report
from aet.components.split_records import SPLIT_FOLDER
from aet.config import DomainConfig

if TYPE_CHECKING:
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput

REPORT_DIR = "_aet_report_dir"  # the exec property the executor adds for its Beam job


def settings_config(settings: Mapping[str, Any]) -> example_gen_pb2.CustomConfig:
    """An ingesting ExampleGen's settings as its custom config: JSON in a Struct in an Any."""
    packed = any_pb2.Any()
    packed.Pack(
        struct_pb2.Struct(fields={"json": struct_pb2.Value(string_value=json.dumps(settings))})
    )
    return example_gen_pb2.CustomConfig(custom_config=packed)


def ingestion_settings(exec_properties: Mapping[str, Any]) -> dict:
    """The settings `settings_config` packed, as the executor receives them."""
    config = proto_utils.json_to_proto(
        exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], example_gen_pb2.CustomConfig()
    )
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return json.loads(struct.fields["json"].string_value)


def json_lines(path: str) -> list:
    """The values of a JSON-lines file the Beam job wrote; [] when it wrote none."""
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


class IngestingExecutor(BaseExampleGenExecutor):
    """The executor of an ExampleGen that ingests: its `GenerateExamplesByBeam` writes
    what it counted under `exec_properties[REPORT_DIR]`; `collect` turns that into the
    report, and `problems` says why the ingestion fails the component, if it does."""

    def collect(self, report_dir: str, splits: list[str], settings: dict) -> Any:
        """The report (a dataclass) of what the Beam job wrote under `report_dir`."""
        raise NotImplementedError

    def problems(self, report: Any, settings: dict) -> str | None:
        raise NotImplementedError

    def error(self, message: str) -> Exception:
        """The error a failed ingestion raises (the kind's bad-input error)."""
        raise NotImplementedError

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        report_dir = os.path.join(examples.uri, ".ingestion")
        exec_properties[REPORT_DIR] = report_dir
        super().Do(input_dict, output_dict, exec_properties)
        settings = ingestion_settings(exec_properties)
        splits = artifact_utils.decode_split_names(examples.split_names)
        report = self.collect(report_dir, splits, settings)
        tf.io.gfile.rmtree(report_dir)
        write_report(examples.uri, asdict(report))
        problems = self.problems(report, settings)
        if problems:
            raise self.error(
                f"{exec_properties[standard_component_specs.INPUT_BASE_KEY]}: {problems}"
            )


def ingested_example_gen(
    config: DomainConfig, examples_dir: str, span: SpanInput | None = None
) -> BaseComponent:
    """ImportExampleGen over a folder of per-split examples a plug-in kind ingested
    before the pipeline (already split, nothing hashed); with `span`, over that span's
    folder (a link to the ingestion)."""
    from tfx.components import ImportExampleGen

    from aet.components.spans import example_input

    patterns = {name: f"{SPLIT_FOLDER.format(name)}/*" for name in config.data.splits}
    input_config, range_config = example_input(patterns, span)
    return ImportExampleGen(
        input_base=span.root if span is not None else examples_dir,
        input_config=input_config,
        range_config=range_config,
    )
