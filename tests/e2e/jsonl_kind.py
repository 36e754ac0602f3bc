"""A fourth data kind, written outside the product and registered when this module is
imported: tabular records as JSON lines, one object per line. It ingests its own files
into the splits ImportExampleGen reads and reuses the tabular kind for the rest
(transform, architectures, signatures, evaluation)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import tensorflow as tf

from aet.config import DomainConfig
from aet.config.kinds import register_kind
from aet.kinds.base import PreparedInput
from aet.kinds.ingested import ingested_example_gen
from aet.kinds.tabular import TabularKind
from aet.serving.examples import RecordError
from aet.serving.requests import PredictionInput, encoded_input, json_lines


class JsonLinesKind(TabularKind):
    """Numeric features and a label, one JSON object per line."""

    name = "jsonl"
    description = "JSON lines of numeric feature records and a label"
    ingested = True

    def check_data_path(self, config: DomainConfig, path: Path) -> None:
        if path.suffix != ".jsonl":
            raise ValueError(f"{path}: not a .jsonl file")

    def prepare_input(
        self, config: DomainConfig, data_path: str, output: Path, beam_args: Sequence[str]
    ) -> PreparedInput:
        """Each line becomes a tf.Example in the split its hash picks, as TFRecords in the
        layout ImportExampleGen reads."""
        target = Path(output) / "ingested-jsonl"
        splits = list(config.data.splits)
        writers = {}
        for split in splits:
            (target / f"Split-{split}").mkdir(parents=True, exist_ok=True)
            options = tf.io.TFRecordOptions(compression_type="GZIP")
            file = target / f"Split-{split}" / "records.tfrecord.gz"
            writers[split] = tf.io.TFRecordWriter(str(file), options)
        encode = self.request_encoder(config)
        label = config.features.label.name
        counts = dict.fromkeys(splits, 0)
        for line, record in json_lines(Path(data_path)):
            split = split_of(f"{data_path}:{line}", config.data.splits)
            example = tf.train.Example.FromString(encode(record))
            example.features.feature[label].int64_list.value.append(int(record[label]))
            writers[split].write(example.SerializeToString())
            counts[split] += 1
        for writer in writers.values():
            writer.close()
        return PreparedInput([f"json lines: {counts}"], os.fspath(target))

    def example_gen(self, config: DomainConfig, data_path: str, span=None):
        return ingested_example_gen(config, data_path, span)

    def request_encoder(self, config: DomainConfig):
        names = config.features.input_names

        def encode(record: Mapping[str, object]) -> bytes:
            missing = [name for name in names if name not in record]
            if missing:
                raise RecordError(f"missing field(s) {missing}")
            feature = {
                name: tf.train.Feature(float_list=tf.train.FloatList(value=[float(record[name])]))
                for name in names
            }
            return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

        return encode

    def read_input(self, config: DomainConfig, path: Path) -> PredictionInput:
        return encoded_input(path, json_lines(path), self.request_encoder(config))


def split_of(key: str, shares: Mapping[str, float]) -> str:
    point = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10_000 / 10_000
    for split, share in shares.items():
        point -= share
        if point < 0:
            return split
    return split


JSON_LINES = register_kind(JsonLinesKind())
