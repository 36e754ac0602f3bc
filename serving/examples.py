"""Raw records (CSV rows, dicts) to the serialized tf.Examples that `serving_default` takes.

The feature types come from the domain's schema, so a CSV row, whose values are all
text, is encoded exactly as ExampleGen encoded the training data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2


class RecordError(ValueError):
    """A record that cannot be encoded; the message names the field and the value."""


def _feature(name: str, value: object, kind: int) -> tf.train.Feature:
    if value is None or value == "":
        return tf.train.Feature()  # missing: the Transform graph fills its default
    try:
        if kind == schema_pb2.INT:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
        if kind == schema_pb2.FLOAT:
            return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    except (TypeError, ValueError) as exc:
        kind_name = schema_pb2.FeatureType.Name(kind)
        raise RecordError(f"field '{name}': {value!r} is not a valid {kind_name}") from exc
    text = value if isinstance(value, bytes) else str(value).encode()
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))


def to_example(record: Mapping[str, object], schema: schema_pb2.Schema) -> tf.train.Example:
    """One tf.Example holding the schema's features found in `record` (others ignored)."""
    features = {
        feature.name: _feature(feature.name, record[feature.name], feature.type)
        for feature in schema.feature
        if feature.name in record
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def serialize_records(
    records: Iterable[Mapping[str, object]], schema: schema_pb2.Schema
) -> list[bytes]:
    return [to_example(record, schema).SerializeToString() for record in records]


def first_value(example: tf.train.Example, name: str) -> tuple[str, object]:
    """(the feature's kind, its first value) in `example`, or ('', None) where it has
    none: how the synthetic warm-up rows and the reason codes read a record back."""
    feature = example.features.feature.get(name)
    kind = feature.WhichOneof("kind") if feature is not None else None
    listed = getattr(feature, kind).value if kind else []
    return (kind, listed[0]) if listed else ("", None)
