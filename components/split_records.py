"""Per-split folders of gzipped TFRecords (`<output>/Split-<name>/*.gz`): the layout
TFX's ImportExampleGen reads and every ExampleGen writes. The Beam jobs that prepare
images and interaction histories write it and read it back to report what they wrote;
the HeatMaps component reads an Examples artifact's held-out split from it."""

from __future__ import annotations

import os
from collections.abc import Sequence

import apache_beam as beam
import tensorflow as tf

SPLIT_FOLDER = "Split-{}"


def write_splits(
    keyed: beam.PCollection, output_dir: str, splits: Sequence[str], file_prefix: str
) -> None:
    """Writes each (split, serialized record) of `keyed` whose split is in `splits` to
    `<output_dir>/Split-<split>/<file_prefix>-*.tfrecord.gz`; other keys are left out."""
    for split in splits:
        _ = (
            keyed
            | f"Only{split}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
            | f"Serialized{split}" >> beam.Map(lambda kv: kv[1])
            | f"Write{split}"
            >> beam.io.WriteToTFRecord(
                os.path.join(output_dir, SPLIT_FOLDER.format(split), file_prefix),
                file_name_suffix=".tfrecord.gz",
            )
        )


def split_records(output_dir: str, split: str) -> tf.data.TFRecordDataset:
    """The serialized records of one split folder."""
    files = tf.io.gfile.glob(os.path.join(output_dir, SPLIT_FOLDER.format(split), "*"))
    return tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")


def first_records(output_dir: str, split: str, count: int) -> list[bytes]:
    """The first `count` serialized records of one split folder."""
    return [record.numpy() for record in split_records(output_dir, split).take(count)]
