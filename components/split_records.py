"""Per-split folders of gzipped TFRecords (`<output>/Split-<name>/*.gz`): the layout
TFX's ImportExampleGen reads and every ExampleGen writes. The components after
ExampleGen (HeatMaps, Explanations, ServingCheck) read an Examples artifact's
held-out examples from it."""

from __future__ import annotations

import os

import tensorflow as tf

SPLIT_FOLDER = "Split-{}"


def split_records(output_dir: str, split: str) -> tf.data.TFRecordDataset:
    """The serialized records of one split folder."""
    files = tf.io.gfile.glob(os.path.join(output_dir, SPLIT_FOLDER.format(split), "*"))
    return tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")


def first_records(output_dir: str, split: str, count: int) -> list[bytes]:
    """The first `count` serialized records of one split folder."""
    return [record.numpy() for record in split_records(output_dir, split).take(count)]
