"""Tabular requests: dicts, CSV rows or JSON lines of the model's features, typed by the
domain's curated schema exactly as ExampleGen typed the training data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from aet.config import DomainConfig
from aet.kinds.base import Encoder
from aet.kinds.delimited import DelimitedTextError, read_rows
from aet.serving.examples import RecordError, to_example
from aet.serving.requests import (
    JSON_LINES_SUFFIXES,
    PredictionInput,
    RequestError,
    encoded_input,
    json_lines,
)

CSV_SUFFIXES = (".csv",)


def load_schema(config: DomainConfig) -> schema_pb2.Schema:
    """The domain's curated schema: the feature types a tabular record is encoded with."""
    if not config.data.schema_file:
        raise RequestError(
            f"domain '{config.name}' has no curated schema (data.schema_file), so the "
            "types of its features are unknown here"
        )
    path = config.resolve(config.data.schema_file)
    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def required_features(config: DomainConfig, schema: schema_pb2.Schema) -> list[str]:
    """Model inputs every example must hold: fixed-shape schema features, which the
    serving graph parses without a default."""
    fixed = {feature.name for feature in schema.feature if feature.HasField("shape")}
    return [name for name in config.features.input_names if name in fixed]


def tabular_encoder(config: DomainConfig, schema: schema_pb2.Schema | None = None) -> Encoder:
    schema = schema or load_schema(config)
    inputs = config.features.input_names
    required = required_features(config, schema)

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


def csv_records(path: Path, required: list[str]) -> Iterator[tuple[int, dict]]:
    """(line number, row) of each CSV row, checked against the header; the file is read
    as the pipeline's pre-flight reads it (kinds/delimited.py)."""
    records = read_rows(str(path))
    try:
        _, header = next(records, (1, []))
        missing = [name for name in required if name not in header]
        if missing:
            raise RequestError(f"{path}, line 1: the header has no column(s) {missing}")
        for line, fields in records:
            if not fields:
                continue
            if len(fields) != len(header):
                raise RequestError(
                    f"{path}, line {line}: {len(fields)} fields, the header has {len(header)}"
                )
            yield line, dict(zip(header, fields, strict=True))
    except DelimitedTextError as exc:
        raise RequestError(str(exc)) from exc


def read_tabular_input(config: DomainConfig, path: Path) -> PredictionInput:
    """A CSV file or a JSON-lines file of records."""
    if path.is_dir():
        raise RequestError(f"{path}: a folder; expected a file of records")
    schema = load_schema(config)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        records = csv_records(path, required_features(config, schema))
    elif suffix in JSON_LINES_SUFFIXES:
        records = json_lines(path)
    else:
        raise RequestError(f"{path}: expected a CSV file (.csv) or a JSON-lines file (.jsonl)")
    return encoded_input(path, records, tabular_encoder(config, schema))
