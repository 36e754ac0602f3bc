"""Requests from raw records, for every domain: `serving_default` always takes serialized
tf.Examples of raw features, built here so that nothing is sent before every record of
an input has been checked.

- tabular domains: dicts or CSV rows of the model's features, typed by the domain's
  schema exactly as ExampleGen typed the training data (serving/examples.py);
- image domains: the encoded PNG/JPEG file, unchanged, under the image feature; a file
  Pillow cannot decode is refused with its name;
- recommendation: {"history": [item ids, oldest first], "exclude": [ids not to
  recommend]}, `exclude` optional.

`read_input` reads what `aet predict --input` names: a CSV or JSON-lines file of
records (JSON lines of histories for recommendation), or an image file or folder. Each
example keeps the id of its record (its line number, or the image's path) so answers
can be matched to inputs; a bad record raises RequestError naming the file, the line
and the field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image, UnidentifiedImageError
from tensorflow_metadata.proto.v0 import schema_pb2

from aet.config import DomainConfig
from aet.config.example_features import EXCLUDE_ITEMS, HISTORY_ITEMS, IMAGE_FORMATS, IMAGE_SUFFIXES
from aet.pipelines.data_sources import schema_path
from aet.serving.examples import RecordError, to_example

CSV_SUFFIXES = (".csv",)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
HISTORY_FIELDS = ("history", "exclude")

Encoder = Callable[[Mapping[str, object]], bytes]


class RequestError(ValueError):
    """An input that cannot become a request; the message names the file (or record),
    the line and the field."""


@dataclass(frozen=True)
class PredictionInput:
    """Serialized tf.Examples for `serving_default`, and the id of each one's record."""

    ids: list[int | str]
    examples: np.ndarray  # object array of bytes: numpy's fixed-width bytes would cut them


def load_schema(config: DomainConfig) -> schema_pb2.Schema:
    """The domain's curated schema: the feature types a tabular record is encoded with."""
    path = schema_path(config)
    if path is None:
        raise RequestError(
            f"domain '{config.name}' has no curated schema (data.schema_file), so the "
            "types of its features are unknown here"
        )
    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def _required_features(config: DomainConfig, schema: schema_pb2.Schema) -> list[str]:
    """Model inputs every example must hold: fixed-shape schema features, which the
    serving graph parses without a default."""
    fixed = {feature.name for feature in schema.feature if feature.HasField("shape")}
    return [name for name in config.features.input_names if name in fixed]


def _tabular_encoder(config: DomainConfig, schema: schema_pb2.Schema) -> Encoder:
    inputs = config.features.input_names
    required = _required_features(config, schema)

    def encode(record: Mapping[str, object]) -> bytes:
        missing = [name for name in required if name not in record]
        if missing:
            raise RecordError(f"missing field(s) {missing}")
        for name in inputs:
            if isinstance(record.get(name), list | dict):
                raise RecordError(f"field '{name}': expected one value, got {record[name]!r}")
        features = {name: record[name] for name in inputs if name in record}
        return to_example(features, schema).SerializeToString()

    return encode


def _item_ids(field: str, items: object) -> tf.train.Feature:
    if not isinstance(items, list | tuple):
        raise RecordError(f"field '{field}': expected a list of item ids, got {items!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise RecordError(f"field '{field}': {item!r} is not an item id (text or an integer)")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(i).encode() for i in items]))


def _history_example(record: Mapping[str, object]) -> bytes:
    """{"history": [...], "exclude": [...]} -> the example `serving_default` parses."""
    unknown = sorted(set(record) - set(HISTORY_FIELDS))
    if unknown:
        raise RecordError(f"unknown field(s) {unknown}: a record holds 'history' and 'exclude'")
    if "history" not in record:
        raise RecordError("field 'history' is missing")
    features = {HISTORY_ITEMS: _item_ids("history", record["history"])}
    if record.get("exclude") is not None:
        features[EXCLUDE_ITEMS] = _item_ids("exclude", record["exclude"])
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def _record_encoder(config: DomainConfig) -> Encoder:
    if config.task == "ranking":
        return _history_example
    if config.features.image is not None:
        raise RequestError(
            f"domain '{config.name}' takes image files: use examples_from_images / read_input"
        )
    return _tabular_encoder(config, load_schema(config))


def _encode_all(located: Iterable[tuple[str, Mapping[str, object]]], encode: Encoder) -> list:
    examples = []
    for where, record in located:
        if not isinstance(record, Mapping):
            raise RequestError(f"{where}: expected a record (a mapping), got {record!r}")
        try:
            examples.append(encode(record))
        except RecordError as exc:
            raise RequestError(f"{where}: {exc}") from exc
    return examples


def examples_from_records(
    config: DomainConfig, records: Iterable[Mapping[str, object]]
) -> np.ndarray:
    """Serialized examples of tabular feature dicts or of recommendation histories;
    an error names the record as records[i]."""
    encode = _record_encoder(config)
    located = ((f"records[{index}]", record) for index, record in enumerate(records))
    return np.array(_encode_all(located, encode), dtype=object)


def _image_bytes(path: Path) -> bytes:
    """The file's bytes, once Pillow has decoded it as a PNG or JPEG image."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RequestError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RequestError(f"{path}: not an image Pillow can decode ({exc})") from exc
    if kind not in IMAGE_FORMATS:
        raise RequestError(f"{path}: a {kind} image; the model takes PNG or JPEG")
    return data


def examples_from_images(config: DomainConfig, paths: Iterable[str | Path]) -> np.ndarray:
    """Serialized examples holding each file's encoded bytes under the image feature."""
    if config.features.image is None:
        raise RequestError(f"domain '{config.name}' takes records, not image files")
    name = config.features.image.name
    examples = []
    for path in paths:
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[_image_bytes(Path(path))]))
        example = tf.train.Example(features=tf.train.Features(feature={name: feature}))
        examples.append(example.SerializeToString())
    return np.array(examples, dtype=object)


def _image_files(path: Path) -> list[Path]:
    """The file itself, or the folder's PNG/JPEG files (sub-folders too), sorted."""
    if path.is_file():
        return [path]
    files = sorted(
        file for file in path.rglob("*") if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise RequestError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def _csv_records(path: Path, required: list[str]) -> Iterator[tuple[int, dict]]:
    """(line number, row) of each CSV row, checked against the header."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [name for name in required if name not in header]
        if missing:
            raise RequestError(f"{path}, line 1: the header has no column(s) {missing}")
        try:
            for row in reader:
                fields = [
                    value for key, value in row.items() if key is not None and value is not None
                ]
                fields += row.get(None) or []
                if len(fields) != len(header):
                    raise RequestError(
                        f"{path}, line {reader.line_num}: {len(fields)} fields, "
                        f"the header has {len(header)}"
                    )
                yield reader.line_num, row
        except csv.Error as exc:
            raise RequestError(f"{path}, line {reader.line_num}: {exc}") from exc


def _json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RequestError(
                    f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno})"
                ) from exc
            if not isinstance(record, dict):
                kind = type(record).__name__
                raise RequestError(
                    f"{path}, line {number}: expected one JSON object per line, got a {kind}"
                )
            yield number, record


def _records_of(config: DomainConfig, path: Path) -> Iterator[tuple[int, dict]]:
    suffix = path.suffix.lower()
    if config.task == "ranking":
        if suffix in JSON_LINES_SUFFIXES:
            return _json_lines(path)
        raise RequestError(
            f'{path}: expected a JSON-lines file (.jsonl) of {{"history": [...], '
            '"exclude": [...]}} records'
        )
    if suffix in CSV_SUFFIXES:
        return _csv_records(path, _required_features(config, load_schema(config)))
    if suffix in JSON_LINES_SUFFIXES:
        return _json_lines(path)
    raise RequestError(f"{path}: expected a CSV file (.csv) or a JSON-lines file (.jsonl)")


def read_input(config: DomainConfig, path: str | Path) -> PredictionInput:
    """Every record of `aet predict --input`, encoded and checked before anything is sent."""
    path = Path(path)
    if not path.exists():
        raise RequestError(f"{path}: no such file or folder")
    if config.features.image is not None:
        files = _image_files(path)
        return PredictionInput([str(file) for file in files], examples_from_images(config, files))
    if path.is_dir():
        raise RequestError(f"{path}: a folder; expected a file of records")
    encode = _record_encoder(config)
    try:
        records = list(_records_of(config, path))
    except UnicodeDecodeError as exc:
        raise RequestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise RequestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not records:
        raise RequestError(f"{path}: no records")
    located = ((f"{path}, line {line}", record) for line, record in records)
    return PredictionInput(
        [line for line, _ in records], np.array(_encode_all(located, encode), dtype=object)
    )
