"""Recommendation requests: {"history": [item ids, oldest first], "exclude": [ids not to
recommend]}, `exclude` optional; `aet predict` reads them as JSON lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import tensorflow as tf

from aet.config import DomainConfig
from aet.config.contract import EXCLUDE_ITEMS, HISTORY_ITEMS
from aet.serving.examples import RecordError
from aet.serving.requests import (
    JSON_LINES_SUFFIXES,
    PredictionInput,
    RequestError,
    encoded_input,
    json_lines,
)

HISTORY_FIELDS = ("history", "exclude")


def _item_ids(field: str, items: object) -> tf.train.Feature:
    if not isinstance(items, list | tuple):
        raise RecordError(f"field '{field}': expected a list of item ids, got {items!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise RecordError(f"field '{field}': {item!r} is not an item id (text or an integer)")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(i).encode() for i in items]))


def history_example(record: Mapping[str, object]) -> bytes:
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


def read_history_input(config: DomainConfig, path: Path) -> PredictionInput:
    if path.is_dir():
        raise RequestError(f"{path}: a folder; expected a file of records")
    if path.suffix.lower() not in JSON_LINES_SUFFIXES:
        raise RequestError(
            f'{path}: expected a JSON-lines file (.jsonl) of {{"history": [...], '
            '"exclude": [...]}} records'
        )
    return encoded_input(path, json_lines(path), history_example)
