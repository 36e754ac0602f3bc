"""Checks that run before any component: the input CSV or Parquet files match the config.

CsvExampleGen fails on a malformed row deep inside Beam without naming the line, and
quietly accepts a file with a column missing. These checks stream each file once
(kinds/delimited.py) and report every problem with file, line and column, so a bad file fails
in seconds with nothing written. Parquet files carry their types, so theirs read the
footers and only the columns whose values need a look (numbers, the label), in
batches. Value-level drift (new categories, ranges, shares) is left to TFDV's
ExampleValidator inside the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf

from aet.components.files import is_remote
from aet.config import DomainConfig
from aet.kinds.delimited import DelimitedTextError, finite_number, read_rows
from aet.kinds.tabular.parquet import SUFFIX as PARQUET_SUFFIX
from aet.kinds.tabular.parquet import example_type, value_type

TABLE_SUFFIXES = (".csv", PARQUET_SUFFIX)

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
        literal = _header_line(path).split(",")
        if literal != header:
            problems.append(
                f"{path}:1: CsvExampleGen splits the header line on commas as it is, so it "
                f"would name the columns {literal[:2]}...; write the column names without "
                "quotes or commas"
            )
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


def _header_line(path: str) -> str:
    """The first line as TFX reads a CSV's column names (io_utils.load_csv_column_names)."""
    with tf.io.gfile.GFile(path) as handle:
        return handle.readline().strip()


def table_files(data_path: str) -> tuple[str, list[str]]:
    """The input's file suffix (`.csv` or `.parquet`) and its files: the file itself, or
    a folder's files of the one suffix it holds (a remote folder is taken to hold CSV
    files: give a remote Parquet input as its file). ValueError for anything else."""
    suffix = Path(data_path).suffix
    if suffix in TABLE_SUFFIXES:
        return suffix, [data_path]
    if is_remote(data_path):  # not listed: a pipeline is compiled without reaching it
        return ".csv", [data_path]
    found = {s: _files(data_path, s) for s in TABLE_SUFFIXES}
    held = [s for s, files in found.items() if files]
    if len(held) != 1:
        what = "both .csv and .parquet files" if held else "no .csv or .parquet files"
        raise ValueError(f"{data_path}: folder holds {what}; give a folder of one or the other")
    return held[0], found[held[0]]


def table_suffix(data_path: str) -> str:
    """The suffix ExampleGen reads at `data_path`: `table_files`' where it can tell, else
    `.csv`, for a pipeline compiled for data it cannot list (a folder inside a container
    image); a run's input has passed `check_table_input` before."""
    try:
        return table_files(data_path)[0]
    except ValueError:
        return ".csv"


def check_table_input(data_path: str, config: DomainConfig) -> tuple[str, int]:
    """Validates every file of the input; returns its suffix and the number of rows."""
    suffix, _ = table_files(data_path)
    check = check_parquet_input if suffix == PARQUET_SUFFIX else check_csv_input
    return suffix, check(data_path, config)


def _files(data_path: str, suffix: str) -> list[str]:
    if data_path.endswith(suffix):
        return [data_path]
    return sorted(tf.io.gfile.glob(str(Path(data_path) / f"*{suffix}")))


def check_csv_input(data_path: str, config: DomainConfig) -> int:
    """Validates every CSV file of the input; returns the number of data rows."""
    problems: list[str] = []
    headers: dict[str, list[str]] = {}
    rows = sum(_check_file(path, config, problems, headers) for path in _files(data_path, ".csv"))
    _raise_problems(data_path, config, problems, rows)
    return rows


def _raise_problems(data_path: str, config: DomainConfig, problems: list[str], rows: int) -> None:
    if not problems and rows == 0:
        problems.append(f"{data_path}: no data rows")
    if problems:
        more = " (first problems only)" if len(problems) >= MAX_REPORTED else ""
        raise InputDataError(
            f"input data does not match domain '{config.name}'{more}:\n  " + "\n  ".join(problems)
        )


def check_parquet_input(data_path: str, config: DomainConfig) -> int:
    """Every Parquet file of the input: readable, with the config's columns in types the
    examples can hold and alike in every file, finite numbers and configured labels;
    returns the number of rows."""
    problems: list[str] = []
    first: tuple[str, dict[str, pa.DataType]] | None = None
    rows = 0
    for path in _files(data_path, PARQUET_SUFFIX):
        if len(problems) >= MAX_REPORTED:
            break
        try:
            table = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as error:
            problems.append(f"{path}: not a readable Parquet file ({error})")
            continue
        types = _column_types(path, table.schema_arrow, config, problems)
        if types is None:
            continue
        if first is None:
            first = (path, types)
        elif types != first[1]:  # ExampleGen would write one feature in two types
            changed = sorted(name for name in types if types[name] != first[1][name])
            problems.append(
                f"{path}: column(s) {changed} have other types than in {first[0]} "
                f"({', '.join(f'{n}: {types[n]} against {first[1][n]}' for n in changed)}); "
                "every file must type each column alike"
            )
            continue
        rows += table.metadata.num_rows
        _check_parquet_values(path, table, config, problems)
    _raise_problems(data_path, config, problems, rows)
    return rows


def _column_types(
    path: str, schema: pa.Schema, config: DomainConfig, problems: list[str]
) -> dict[str, pa.DataType] | None:
    """The types of the columns the config reads, or None after noting what is wrong."""
    features = config.features
    required = [*features.input_names, features.label.name]
    missing = [name for name in required if schema.get_field_index(name) < 0]
    if missing:
        problems.append(f"{path}: missing column(s) {missing} (it has {schema.names})")
        return None
    types = {name: schema.field(name).type for name in required}
    before = len(problems)
    for name, arrow_type in types.items():
        items = value_type(arrow_type)
        if example_type(items) is None:
            problems.append(
                f"{path}: column '{name}' is {arrow_type}, which a tf.Example cannot hold; "
                "store it as a number or a string"
            )
        elif name in features.numeric and example_type(items) == pa.large_binary():
            problems.append(f"{path}: column '{name}' holds {arrow_type}, not numbers")
    return types if len(problems) == before else None


def _check_parquet_values(
    path: str, table: pq.ParquetFile, config: DomainConfig, problems: list[str]
) -> None:
    """Finite numbers and known, present labels; rows are counted from 0 in the file."""
    features = config.features
    label, classes = features.label.name, set(features.label.classes)
    floats = [
        name
        for name in features.numeric
        if pa.types.is_floating(value_type(table.schema_arrow.field(name).type))
    ]
    offset = 0
    for batch in table.iter_batches(columns=[*floats, label], batch_size=1 << 16):
        for name in floats:
            values, rows_of = batch[name], None
            if value_type(values.type) != values.type:  # a list column
                values, rows_of = pc.list_flatten(values), pc.list_parent_indices(values)
            bad = pc.indices_nonzero(pc.invert(pc.fill_null(pc.is_finite(values), True)))
            if len(bad):
                at = bad[0].as_py()
                row = at if rows_of is None else rows_of[at].as_py()
                problems.append(
                    f"{path}: row {offset + row}: column '{name}': {values[at].as_py()} is "
                    "not a finite number"
                )
        labels = batch[label]
        absent = pc.indices_nonzero(pc.is_null(labels))
        if len(absent):
            problems.append(f"{path}: row {offset + absent[0].as_py()}: column '{label}' is empty")
        unknown = sorted({str(v) for v in pc.unique(labels.drop_null()).to_pylist()} - classes)
        if unknown:
            problems.append(
                f"{path}: column '{label}': {unknown[:5]} not among the configured classes "
                f"{sorted(classes)}"
            )
        offset += batch.num_rows
