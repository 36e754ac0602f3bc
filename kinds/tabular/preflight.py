"""Checks that run before any component: the input CSV matches the config.

CsvExampleGen fails on a malformed row deep inside Beam without naming the line, and
quietly accepts a file with a column missing. These checks stream each file once
(kinds/delimited.py) and report every problem with file, line and column, so a bad file fails
in seconds with nothing written. Value-level drift (new categories, ranges, shares)
is left to TFDV's ExampleValidator inside the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from aet.config import DomainConfig
from aet.kinds.delimited import DelimitedTextError, finite_number, read_rows

MAX_REPORTED = 20


class InputDataError(ValueError):
    """The input data does not fit the domain config; the message lists each problem."""


def _check_file(
    path: str, config: DomainConfig, problems: list[str], headers: dict[str, list[str]]
) -> int:
    features = config.features
    required = [*features.input_names, features.label.name]
    classes = set(features.label.classes)
    rows = 0
    records = read_rows(path)
    try:
        _, header = next(records, (1, None))
        if not header:
            problems.append(f"{path}: the file is empty (a header row is required)")
            return 0
        first_path, first_header = next(iter(headers.items()), (path, header))
        headers.setdefault(path, header)
        if header != first_header:  # CsvExampleGen reads every file with the first's header
            problems.append(
                f"{path}: header differs from the header of {first_path}; every file of a "
                "folder must have the same columns in the same order"
            )
            return 0
        missing = [name for name in required if name not in header]
        if missing:
            problems.append(
                f"{path}: missing column(s) {missing} (header has {len(header)} columns)"
            )
            return 0
        position = {name: header.index(name) for name in required}
        for line_number, row in records:  # where a record starts: a field may span lines
            if len(problems) >= MAX_REPORTED:
                break
            if not row:
                continue
            rows += 1
            if len(row) != len(header):
                problems.append(
                    f"{path}:{line_number}: expected {len(header)} fields, found {len(row)}"
                )
                continue
            for name in features.numeric:
                value = row[position[name]]
                if value.strip() and finite_number(value) is None:
                    problems.append(
                        f"{path}:{line_number}: column '{name}': '{value[:40]}' is not a "
                        "finite number"
                    )
            label = row[position[features.label.name]]
            if label not in classes:
                problems.append(
                    f"{path}:{line_number}: column '{features.label.name}': '{label[:40]}' is "
                    f"not one of the configured classes {sorted(classes)}"
                )
    except DelimitedTextError as error:  # the rest of the file cannot be read reliably
        problems.append(str(error))
    return rows


def check_csv_input(data_path: str, config: DomainConfig) -> int:
    """Validates every CSV file of the input; returns the number of data rows."""
    files = (
        [data_path]
        if data_path.endswith(".csv")
        else sorted(tf.io.gfile.glob(str(Path(data_path) / "*.csv")))
    )
    problems: list[str] = []
    headers: dict[str, list[str]] = {}
    rows = sum(_check_file(path, config, problems, headers) for path in files)
    if not problems and rows == 0:
        problems.append(f"{data_path}: no data rows")
    if problems:
        more = " (first problems only)" if len(problems) >= MAX_REPORTED else ""
        raise InputDataError(
            f"input data does not match domain '{config.name}'{more}:\n  " + "\n  ".join(problems)
        )
    return rows
