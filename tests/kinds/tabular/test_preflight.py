"""The input check that runs before any component: the real German Credit CSV (and the
same rows as Parquet) passes, and each kind of bad file (built from real rows) fails
naming file, line (a Parquet file's row) and column."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from aet.kinds.tabular.preflight import (
    MAX_REPORTED,
    InputDataError,
    check_csv_input,
    check_parquet_input,
    check_table_input,
    table_files,
)

GERMAN_CREDIT_ROWS = 1000  # Statlog German Credit: 1000 applicants


@pytest.fixture(scope="module")
def credit_rows(german_credit_csv: Path) -> list[list[str]]:
    """Header and data rows of the real file, as the csv module reads them."""
    with german_credit_csv.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _sample(credit_rows: list[list[str]], count: int = 10) -> list[list[str]]:
    """Header plus the first `count` data rows, copied so tests can change them."""
    return [list(row) for row in credit_rows[: count + 1]]


def _problems(error: pytest.ExceptionInfo) -> list[str]:
    return [line.strip() for line in str(error.value).splitlines()[1:]]


def test_real_german_credit_passes(german_credit_csv: Path, finance_config) -> None:
    assert check_csv_input(str(german_credit_csv), finance_config) == GERMAN_CREDIT_ROWS


def test_real_penguins_passes_its_config_only_domain(
    penguins_config_path: Path, penguins_csv: Path
) -> None:
    from aet.pipelines.domains import load_domain

    config = load_domain(str(penguins_config_path))
    data_lines = len(penguins_csv.read_text().splitlines()) - 1

    assert check_csv_input(str(penguins_csv), config) == data_lines


def test_copied_sample_passes(tmp_path: Path, credit_rows, finance_config) -> None:
    """The control for the cases below: a copy of real rows, unchanged, is accepted."""
    path = _write(tmp_path / "sample.csv", _sample(credit_rows))
    assert check_csv_input(str(path), finance_config) == 10


def test_row_with_a_missing_field_names_file_and_line(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    rows = _sample(credit_rows)
    rows[3] = rows[3][:-1]  # data row 3 sits on line 4
    path = _write(tmp_path / "short_row.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    width = len(credit_rows[0])
    assert _problems(caught) == [f"{path}:4: expected {width} fields, found {width - 1}"]
    assert "finance_risk" in str(caught.value).splitlines()[0]


def test_row_with_an_extra_field_names_file_and_line(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    rows = _sample(credit_rows)
    rows[7].append("surplus")
    path = _write(tmp_path / "long_row.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    assert _problems(caught) == [f"{path}:8: expected {len(rows[0])} fields, found {len(rows[7])}"]


def test_missing_column_names_file_and_column(tmp_path: Path, credit_rows, finance_config):
    rows = _sample(credit_rows)
    drop = rows[0].index("age_in_years")
    path = _write(tmp_path / "no_age.csv", [row[:drop] + row[drop + 1 :] for row in rows])

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    (problem,) = _problems(caught)
    assert problem.startswith(f"{path}: missing column(s)")
    assert "'age_in_years'" in problem


def test_missing_label_column_is_reported(tmp_path: Path, credit_rows, finance_config) -> None:
    path = _write(tmp_path / "unlabelled.csv", [row[:-1] for row in _sample(credit_rows)])
    assert credit_rows[0][-1] == finance_config.features.label.name

    with pytest.raises(InputDataError, match="missing column") as caught:
        check_csv_input(str(path), finance_config)
    assert f"'{finance_config.features.label.name}'" in str(caught.value)


def test_non_numeric_value_names_file_line_column_and_value(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    rows = _sample(credit_rows)
    rows[2][rows[0].index("credit_amount")] = "lots"
    path = _write(tmp_path / "text_amount.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    assert _problems(caught) == [f"{path}:3: column 'credit_amount': 'lots' is not a finite number"]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_rejected(tmp_path, credit_rows, finance_config, value) -> None:
    rows = _sample(credit_rows)
    rows[1][rows[0].index("duration_in_month")] = value
    path = _write(tmp_path / "non_finite.csv", rows)

    with pytest.raises(InputDataError, match=f"{path}:2: column 'duration_in_month'"):
        check_csv_input(str(path), finance_config)


def test_empty_numeric_value_is_a_missing_value_not_an_error(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    rows = _sample(credit_rows)
    rows[1][rows[0].index("duration_in_month")] = ""
    path = _write(tmp_path / "missing_value.csv", rows)

    assert check_csv_input(str(path), finance_config) == 10


def test_unknown_label_names_file_line_column_and_classes(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    rows = _sample(credit_rows)
    rows[5][-1] = "maybe"
    path = _write(tmp_path / "odd_label.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    (problem,) = _problems(caught)
    assert problem.startswith(f"{path}:6: column 'creditability': 'maybe'")
    for value in finance_config.features.label.classes:
        assert f"'{value}'" in problem


def test_every_bad_row_is_reported_up_to_a_limit(tmp_path: Path, credit_rows, finance_config):
    rows = _sample(credit_rows, 40)
    for row in rows[1:]:
        row[-1] = "unknown"
    path = _write(tmp_path / "all_bad.csv", rows)

    with pytest.raises(InputDataError, match="first problems only") as caught:
        check_csv_input(str(path), finance_config)

    problems = _problems(caught)
    assert len(problems) == MAX_REPORTED
    assert [p.split(":")[1] for p in problems] == [str(n) for n in range(2, 2 + MAX_REPORTED)]


def test_two_problems_are_both_reported(tmp_path: Path, credit_rows, finance_config) -> None:
    rows = _sample(credit_rows)
    rows[4][rows[0].index("age_in_years")] = "old"
    rows[9][-1] = "?"
    path = _write(tmp_path / "two.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    problems = _problems(caught)
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:5: column 'age_in_years'")
    assert problems[1].startswith(f"{path}:10: column 'creditability'")
    assert "first problems only" not in str(caught.value)


def test_line_numbers_count_blank_lines_and_multi_line_fields(
    tmp_path: Path, credit_rows, finance_config
) -> None:
    """Line numbers are the physical lines an editor shows, not record counts."""
    header, first, second, third = _sample(credit_rows, 3)
    second[header.index("purpose")] = "radio/\ntelevision"  # a quoted field over two lines
    third[header.index("credit_amount")] = "lots"
    path = tmp_path / "layout.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([header, first])
        handle.write("\r\n")  # a blank line 3
        writer.writerows([second, third])  # lines 4-5, then line 6

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    assert _problems(caught) == [f"{path}:6: column 'credit_amount': 'lots' is not a finite number"]


def test_empty_file_is_rejected(tmp_path: Path, finance_config) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)

    assert f"{path}: the file is empty" in str(caught.value)


def test_header_only_file_has_no_data_rows(tmp_path, credit_rows, finance_config) -> None:
    path = _write(tmp_path / "header.csv", credit_rows[:1])

    with pytest.raises(InputDataError, match="no data rows") as caught:
        check_csv_input(str(path), finance_config)
    assert str(path) in str(caught.value)


def test_folder_of_csvs_counts_every_file(tmp_path: Path, credit_rows, finance_config) -> None:
    header = credit_rows[0]
    _write(tmp_path / "data" / "part-1.csv", [header, *credit_rows[1:301]])
    _write(tmp_path / "data" / "part-2.csv", [header, *credit_rows[301:]])
    (tmp_path / "data" / "notes.txt").write_text("not data")

    assert check_csv_input(str(tmp_path / "data"), finance_config) == GERMAN_CREDIT_ROWS


def test_folder_names_the_bad_file_only(tmp_path: Path, credit_rows, finance_config) -> None:
    good = _write(tmp_path / "data" / "a.csv", _sample(credit_rows))
    rows = [credit_rows[0], *[list(row) for row in credit_rows[11:21]]]
    rows[3][rows[0].index("credit_amount")] = "n/a"
    bad = _write(tmp_path / "data" / "b.csv", rows)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(tmp_path / "data"), finance_config)

    assert _problems(caught) == [f"{bad}:4: column 'credit_amount': 'n/a' is not a finite number"]
    assert str(good) not in str(caught.value)


def test_folder_files_must_share_one_header(tmp_path: Path, credit_rows, finance_config):
    """CsvExampleGen reads every file of a folder with the first file's header."""
    _write(tmp_path / "data" / "a.csv", _sample(credit_rows))
    swapped = [[row[1], row[0], *row[2:]] for row in _sample(credit_rows)]
    other = _write(tmp_path / "data" / "b.csv", swapped)

    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(tmp_path / "data"), finance_config)

    (problem,) = _problems(caught)
    assert problem.startswith(f"{other}: header differs")
    assert str(tmp_path / "data" / "a.csv") in problem


def test_folder_without_csv_files_has_no_data_rows(tmp_path: Path, finance_config) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(InputDataError, match="no data rows") as caught:
        check_csv_input(str(tmp_path / "data"), finance_config)
    assert str(tmp_path / "data") in str(caught.value)


# --- Parquet -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credit_table(german_credit_csv: Path) -> pa.Table:
    """The real file as a Parquet writer would type it: integers, strings."""
    return pyarrow.csv.read_csv(german_credit_csv)


def _parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _replaced(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def test_real_german_credit_as_parquet_passes(tmp_path: Path, credit_table, finance_config):
    path = _parquet(tmp_path / "credit.parquet", credit_table)
    assert check_table_input(str(path), finance_config) == (".parquet", GERMAN_CREDIT_ROWS)
    folder = tmp_path / "parts"
    _parquet(folder / "a.parquet", credit_table.slice(0, 300))
    _parquet(folder / "b.parquet", credit_table.slice(300))
    assert check_table_input(str(folder), finance_config) == (".parquet", GERMAN_CREDIT_ROWS)


def test_a_parquet_file_names_its_bad_column_and_row(tmp_path, credit_table, finance_config):
    amounts = credit_table["credit_amount"].to_pylist()
    amounts[7] = float("nan")
    labels = credit_table["creditability"].to_pylist()
    labels[3], labels[5] = None, "maybe"
    table = _replaced(credit_table, "credit_amount", pa.array(amounts, pa.float64()))
    table = _replaced(table, "creditability", pa.array(labels))
    path = _parquet(tmp_path / "bad.parquet", table.drop(["purpose"]))

    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(path), finance_config)
    (problem,) = _problems(caught)
    assert problem.startswith(f"{path}: missing column(s) ['purpose']")

    _parquet(path, table)
    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(path), finance_config)
    assert _problems(caught) == [
        f"{path}: row 7: column 'credit_amount': nan is not a finite number",
        f"{path}: row 3: column 'creditability' is empty",
        f"{path}: column 'creditability': ['maybe'] not among the configured classes "
        "['bad', 'good']",
    ]


def test_parquet_types_must_fit_and_agree_across_files(tmp_path, credit_table, finance_config):
    folder = tmp_path / "data"
    _parquet(folder / "a.parquet", credit_table)
    as_text = credit_table["age_in_years"].cast(pa.string())
    other = _parquet(folder / "b.parquet", _replaced(credit_table, "age_in_years", as_text))
    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(folder), finance_config)
    assert _problems(caught) == [f"{other}: column 'age_in_years' holds string, not numbers"]

    stamps = pa.array([datetime.datetime(2026, 1, 1)] * credit_table.num_rows, pa.timestamp("us"))
    _parquet(other, _replaced(credit_table, "telephone", stamps))
    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(folder), finance_config)
    (problem,) = _problems(caught)
    assert problem.startswith(f"{other}: column 'telephone' is timestamp[us], which a tf.Example")

    as_float = credit_table["age_in_years"].cast(pa.float64())
    _parquet(other, _replaced(credit_table, "age_in_years", as_float))
    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(folder), finance_config)
    (problem,) = _problems(caught)
    assert problem.startswith(f"{other}: column(s) ['age_in_years'] have other types than in ")
    assert "age_in_years: double against int64" in problem


def test_an_unread_column_of_any_type_is_allowed(tmp_path, credit_table, finance_config):
    stamps = pa.array([datetime.datetime(2026, 1, 1)] * credit_table.num_rows, pa.timestamp("us"))
    path = _parquet(tmp_path / "x.parquet", credit_table.append_column("seen", stamps))
    assert check_parquet_input(str(path), finance_config) == GERMAN_CREDIT_ROWS


def test_a_corrupt_parquet_file_is_named(tmp_path: Path, finance_config) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputDataError) as caught:
        check_parquet_input(str(path), finance_config)
    (problem,) = _problems(caught)
    assert problem.startswith(f"{path}: not a readable Parquet file")


def test_a_folder_holds_csv_or_parquet_files_not_both(tmp_path, credit_table, credit_rows):
    _parquet(tmp_path / "data" / "a.parquet", credit_table)
    _write(tmp_path / "data" / "b.csv", _sample(credit_rows))
    with pytest.raises(ValueError, match=r"holds both \.csv and \.parquet files"):
        table_files(str(tmp_path / "data"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no \.csv or \.parquet files"):
        table_files(str(tmp_path / "empty"))


def test_a_quoted_header_is_refused(tmp_path: Path, credit_rows, finance_config) -> None:
    """TFX reads column names by splitting the first line on commas: quotes would stay."""
    rows = _sample(credit_rows)
    path = tmp_path / "quoted.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)
    (problem,) = _problems(caught)
    assert problem.startswith(f"{path}:1: CsvExampleGen splits the header line on commas")
    assert "'\"status_of_existing_checking_account\"'" in problem
