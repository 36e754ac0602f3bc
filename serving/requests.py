"""Requests from raw records, for every domain: `serving_default` always takes serialized
tf.Examples of raw features, built here so that nothing is sent before every record of
an input has been checked.

How one record becomes an example is the data kind's (kinds/<kind>/requests.py):

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

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aet.config import DomainConfig
from aet.config.contract import RecordEncoder as Encoder
from aet.config.kinds import kind_of
from aet.serving.examples import RecordError

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")


class RequestError(ValueError):
    """An input that cannot become a request; the message names the file (or record),
    the line and the field."""


@dataclass(frozen=True)
class PredictionInput:
    """Serialized tf.Examples for `serving_default`, and the id of each one's record."""

    ids: list[int | str]
    examples: np.ndarray  # object array of bytes: numpy's fixed-width bytes would cut them


def encode_all(located: Iterable[tuple[str, Mapping[str, object]]], encode: Encoder) -> list:
    """Every record encoded, or a RequestError naming where the first bad one is."""
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
    encode = kind_of(config).request_encoder(config)
    located = ((f"records[{index}]", record) for index, record in enumerate(records))
    return np.array(encode_all(located, encode), dtype=object)


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
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


def encoded_input(
    path: Path, records: Iterable[tuple[int, Mapping[str, object]]], encode: Encoder
) -> PredictionInput:
    """The numbered records of the file `path`, each encoded; ids are line numbers."""
    try:
        numbered = list(records)
    except UnicodeDecodeError as exc:
        raise RequestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise RequestError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not numbered:
        raise RequestError(f"{path}: no records")
    located = ((f"{path}, line {line}", record) for line, record in numbered)
    return PredictionInput(
        [line for line, _ in numbered], np.array(encode_all(located, encode), dtype=object)
    )


def read_input(config: DomainConfig, path: str | Path) -> PredictionInput:
    """Every record of `aet predict --input`, encoded and checked before anything is sent."""
    path = Path(path)
    if not path.exists():
        raise RequestError(f"{path}: no such file or folder")
    return kind_of(config).read_input(config, path)
