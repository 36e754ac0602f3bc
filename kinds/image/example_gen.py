"""ImageExampleGen: images are ingested inside the pipeline, by TFX's FileBasedExampleGen
with an executor of its own, so an image domain runs wherever its runner runs
(Kubeflow included) and a re-run on the same files is a cache hit in MLMD.

Only file names go into the Beam graph; the workers read, decode and write each image
(ingestion.py). ExampleGen's driver fingerprints the files the input pattern matches
(names, sizes, modification times) and resolves `{SPAN}` patterns as it does for CSV.

- An image folder is one input split; each file's split is a hash of its path in the
  folder (`split_of`), so a file keeps its split however the folder grows.
- A MedMNIST `.npz` keeps its own splits: one input split per pipeline split, each
  reading its array (`val` is the pipeline's `eval`).

The executor writes `ingestion_report.json` into the Examples artifact (examples and
classes per split, every bad file with its reason) and fails the component, naming the
bad files, when more than `data.max_bad_share` of them are bad; a failed ExampleGen
publishes nothing, so no later component reads a partial ingestion.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from aet.config import DomainConfig, ImageConfig
from aet.kinds.image.ingestion import (
    DecodeOrReport,
    IngestionError,
    IngestionReport,
    folder_pattern,
    label_rules,
    listed_images,
    npz_images,
    npz_splits,
    read_image,
)
from aet.kinds.ingested import (
    REPORT_DIR,
    IngestingExecutor,
    ingestion_settings,
    json_lines,
    settings_config,
)

if TYPE_CHECKING:
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput

COMPONENT_ID = "ImageExampleGen"
NPZ_SPLITS = {"train": "train", "eval": "val", "test": "test"}  # pipeline's -> MedMNIST's
_FOLDER_SPLIT = "images"  # the one input split of an image folder


def image_example_gen(
    config: DomainConfig, data_path: str, span: SpanInput | None = None
) -> BaseComponent:
    """The ExampleGen of an image domain over `data_path` (a folder or an `.npz`, told
    apart by name, so a path only the cluster sees compiles too); with `span`, over that
    span's folder under the spans root."""
    from tfx.components import FileBasedExampleGen
    from tfx.dsl.components.base import executor_spec

    from aet.components.spans import example_input

    is_npz = data_path.endswith(".npz")
    rules = label_rules(config)
    if span is not None:
        input_base, pattern = span.root, "*.npz" if is_npz else folder_pattern(rules)
    elif is_npz:
        input_base, pattern = os.path.dirname(data_path), os.path.basename(data_path)
    else:
        input_base, pattern = data_path, folder_pattern(rules)
    if is_npz:
        input_config, range_config = example_input(dict.fromkeys(config.data.splits, pattern), span)
        output_config = example_gen_pb2.Output()
    else:
        input_config, range_config = example_input({_FOLDER_SPLIT: pattern}, span)
        output_config = example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=round(share * 100))
                    for name, share in config.data.splits.items()
                ]
            )
        )
    settings = {
        "classes": list(config.features.label.classes),
        "label_rules": rules,
        "image": config.features.image.dict(),
        "max_bad_share": config.data.max_bad_share,
    }
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        range_config=range_config,
        custom_config=settings_config(settings),
        custom_executor_spec=executor_spec.BeamExecutorSpec(ImageExecutor),
    ).with_id(COMPONENT_ID)


class ImageExecutor(IngestingExecutor):
    """Lists the images, has the workers read and decode them, splits them (a folder by
    each file's path, an `.npz` by its arrays), and reports what it wrote."""

    def collect(self, report_dir: str, splits: list[str], settings: dict) -> IngestionReport:
        return _collected_report(report_dir, splits)

    def problems(self, report: IngestionReport, settings: dict) -> str | None:
        return report.problems(settings["max_bad_share"])

    def error(self, message: str) -> Exception:
        return IngestionError(message)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """Not used: TFX's per-split reading hashes whole examples into splits, and an
        image's split follows its path instead (GenerateExamplesByBeam)."""
        raise NotImplementedError("ImageExecutor builds its splits in GenerateExamplesByBeam")

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        settings = ingestion_settings(exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input()
        )
        output_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output()
        )
        splits = utils.generate_output_split_names(input_config, output_config)
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        limits = ImageConfig(**settings["image"])
        if output_config.split_config.splits:
            images = _folder_images(
                pipeline, input_base, input_config, output_config, settings, limits
            )
        else:
            images = _npz_images(pipeline, input_base, input_config, settings)
        decoded = images | "Decode" >> beam.ParDo(DecodeOrReport(limits)).with_outputs(
            "bad", main="good"
        )
        report_dir = exec_properties[REPORT_DIR]
        _ = (
            decoded.good
            | "SplitAndLabel" >> beam.Map(lambda good: (good[0], good[1]))
            | "Count" >> beam.combiners.Count.PerElement()
            | "CountLines" >> beam.Map(lambda counted: json.dumps([*counted[0], counted[1]]))
            | "WriteCounts" >> beam.io.WriteToText(f"{report_dir}/counts", shard_name_template="")
        )
        _ = (
            decoded.bad
            | "BadLines" >> beam.Map(json.dumps)
            | "WriteBad" >> beam.io.WriteToText(f"{report_dir}/bad", shard_name_template="")
        )
        return {
            split: decoded.good
            | f"Only[{split}]" >> beam.Filter(lambda good, s=split: good[0] == s)
            | f"Serialized[{split}]" >> beam.Map(lambda good: good[2])
            for split in splits
        }


def _folder_images(
    pipeline: beam.Pipeline,
    input_base: str,
    input_config: example_gen_pb2.Input,
    output_config: example_gen_pb2.Output,
    settings: dict,
    limits: ImageConfig,
) -> beam.PCollection:
    """The folder's images, listed here by name and read by the workers."""
    (split,) = input_config.splits
    root = _pattern_root(input_base, split.pattern)
    buckets = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    shares = {name: count / sum(buckets.values()) for name, count in buckets.items()}
    rules = [tuple(rule) for rule in settings["label_rules"]] if settings["label_rules"] else None
    listed = listed_images(root, shares, rules)
    if not listed:
        raise IngestionError(f"{root}: no images to ingest")
    return (
        pipeline
        | "ImageNames" >> beam.Create(listed)
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.Map(read_image, limits.max_bytes)
    )


def _pattern_root(input_base: str, pattern: str) -> str:
    """The folder a resolved input pattern lists: its leading parts without wildcards
    (`span-0003/*/*` -> `<input_base>/span-0003`)."""
    fixed = []
    for part in pattern.split("/"):
        if any(wildcard in part for wildcard in "*?["):
            break
        fixed.append(part)
    return os.path.join(input_base, *fixed)


def _npz_images(
    pipeline: beam.Pipeline, input_base: str, input_config: example_gen_pb2.Input, settings: dict
) -> beam.PCollection:
    """Each pipeline split's array of the `.npz`, read by a worker."""
    reads = []
    for split in input_config.splits:
        pattern = os.path.join(input_base, split.pattern)
        matched = tf.io.gfile.glob(pattern)
        if len(matched) != 1:
            raise IngestionError(f"{pattern}: expected one .npz, found {len(matched)}")
        (path,) = matched
        npz_split = NPZ_SPLITS.get(split.name, split.name)
        held = npz_splits(path)
        if npz_split not in held:
            raise IngestionError(
                f"{path}: no '{npz_split}_images' array for the split '{split.name}' "
                f"(it holds the splits {held})"
            )
        reads.append((path, npz_split, split.name))
    return (
        pipeline
        | "NpzSplits" >> beam.Create(reads)
        | "ReadNpz" >> beam.FlatMap(lambda read: npz_images(*read, settings["classes"]))
    )


def _collected_report(report_dir: str, splits: list[str]) -> IngestionReport:
    """The counts and bad files the Beam job wrote, as one report."""
    report = IngestionReport(
        examples=dict.fromkeys(splits, 0), labels={split: {} for split in splits}
    )
    for split, label, count in json_lines(f"{report_dir}/counts"):
        report.examples[split] += count
        report.labels[split][label] = count
    report.labels = {split: dict(sorted(labels.items())) for split, labels in report.labels.items()}
    report.bad = sorted(tuple(bad) for bad in json_lines(f"{report_dir}/bad"))
    return report
