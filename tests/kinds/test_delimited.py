"""`kinds.delimited` and the two readers built on it (a tabular domain's pre-flight, an
interaction log's reader), fuzzed with Hypothesis: whatever bytes a CSV or a log holds
(NUL, a byte-order mark, CR-only line ends, latin-1, a 200 KiB field, 'inf', '1e400',
an unbalanced quote, anything else), the answer is the reader's own error naming the
file and the line where the trouble is, or the rows; never another exception."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aet.kinds import delimited
from aet.kinds.delimited import DelimitedTextError, finite_number, read_rows
from aet.kinds.interactions.histories import InteractionLogError, read_interactions
from aet.kinds.tabular.preflight import InputDataError, check_csv_input
from aet.pipelines.cli import EXIT_BAD_INPUT, main

FIELD_LIMIT = csv.field_size_limit()


def _lines(header: list[str], rows: list[list[str]], delimiter: str = ",") -> list[bytes]:
    """Each record as its own line of bytes (fields quoted only where they must be)."""
    lines = []
    for row in [header, *rows]:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(row)
        lines.append(buffer.getvalue().encode())
    return lines


# One fault, put on one line (0 is the header): (what it does to that line's bytes,
# a pattern the error must match, whether it may only go on a data line).
FAULTS = {
    "nul": (lambda line: line[:1] + b"\x00" + line[1:], r"contains a NUL byte", False),
    "bom": (lambda line: b"\xef\xbb\xbf" + line, r"byte-order mark", False),
    "cr only": (lambda line: line.replace(b"\n", b"\r") + b"x\r", r"carriage return", False),
    "latin-1": (lambda line: line[:1] + "é".encode("latin-1") + line[1:], r"not UTF-8", False),
    "200 KiB field": (
        lambda line: b'"' + b"x" * (200 * 1024) + b'",' + line,
        r"field larger than field limit",
        False,
    ),
    "unbalanced quote": (
        lambda line: b'"' + line,
        r"check this record's quotes|expected \d+ fields",
        False,
    ),
}


@st.composite
def faulty_file(draw, lines: list[bytes], data_faults: dict | None = None):
    """`lines` with one fault on one of them: (the file's bytes, the line, the pattern)."""
    faults = {**FAULTS, **(data_faults or {})}
    name = draw(st.sampled_from(sorted(faults)))
    damage, pattern, data_only = faults[name]
    # A byte-order mark only means something at the start.
    index = 0 if name == "bom" else draw(st.integers(1 if data_only else 0, len(lines) - 1))
    damaged = [*lines]
    damaged[index] = damage(lines[index])
    return b"".join(damaged), index + 1, pattern


def _where(path: Path, message: str) -> int:
    """The line number the error names right after the file."""
    found = re.search(rf"{re.escape(str(path))}:(\d+):", message)
    assert found, f"no {path}:<line> in {message!r}"
    return int(found.group(1))


@pytest.fixture(scope="module")
def credit_lines(german_credit_csv: Path) -> list[bytes]:
    """The German Credit header and its first four rows, each as one line."""
    with german_credit_csv.open(newline="") as handle:
        rows = [row for _, row in zip(range(5), csv.reader(handle), strict=False)]
    return _lines(rows[0], rows[1:])


def _numeric_fault(value: str):
    """Puts `value` in place of a data row's second field (duration_in_month, numeric)."""

    def damage(line: bytes) -> bytes:
        first, _, rest = line.split(b",", 2)
        return b",".join([first, value.encode(), rest])

    return damage, r"column 'duration_in_month'.*is not a finite number", True


CSV_DATA_FAULTS = {value: _numeric_fault(value) for value in ("inf", "-inf", "1e400", "nan")}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_faulty_csv_is_named_by_file_and_line(data, credit_lines, finance_config, tmp_path):
    content, line, pattern = data.draw(faulty_file(credit_lines, CSV_DATA_FAULTS))
    path = tmp_path / "credit.csv"
    path.write_bytes(content)
    with pytest.raises(InputDataError) as caught:
        check_csv_input(str(path), finance_config)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert _where(path, message) == line


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(max_size=300), at=st.integers(0, 2000))
def test_any_bytes_in_a_csv_give_the_preflights_error_or_pass(
    noise, at, credit_lines, finance_config, tmp_path
):
    content = b"".join(credit_lines)
    at = min(at, len(content))
    path = tmp_path / "credit.csv"
    path.write_bytes(content[:at] + noise + content[at:])
    try:
        check_csv_input(str(path), finance_config)
    except InputDataError as error:
        assert f"{path}" in str(error)


LOG_HEADER = ["user_id", "item_id", "rating", "timestamp"]
ids = st.text(st.characters(codec="utf-8", exclude_characters="\t\r\n\x00\"'"), min_size=1)
log_rows = st.lists(
    st.tuples(
        ids,
        ids,
        st.floats(0, 5, allow_nan=False),
        st.integers(0, 2**40),
    ).map(lambda row: [row[0].strip() or "u", row[1].strip() or "i", repr(row[2]), str(row[3])]),
    min_size=1,
    max_size=6,
)


def _rating_fault(value: str):
    """Puts `value` in place of a row's rating (the third field)."""

    def damage(line: bytes) -> bytes:
        fields = line.rstrip(b"\n").split(b"\t")
        return b"\t".join([*fields[:2], value.encode(), *fields[3:]]) + b"\n"

    return damage, r"column 'rating'.*is not a finite number", True


def _timestamp_fault(value: str):
    def damage(line: bytes) -> bytes:
        fields = line.rstrip(b"\n").split(b"\t")
        return b"\t".join([*fields[:3], value.encode()]) + b"\n"

    return damage, r"column 'timestamp'.*is not a finite number of seconds within int64", True


LOG_DATA_FAULTS = {
    **{f"rating {v}": _rating_fault(v) for v in ("nan", "inf", "1e400", "four")},
    **{f"timestamp {v}": _timestamp_fault(v) for v in ("inf", "1e400", "9.3e18")},
}


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=log_rows, data=st.data())
def test_a_faulty_interaction_log_is_named_by_file_and_line(rows, data, tmp_path):
    lines = _lines(LOG_HEADER, rows, delimiter="\t")
    content, line, pattern = data.draw(faulty_file(lines, LOG_DATA_FAULTS))
    path = tmp_path / "log.inter"
    path.write_bytes(content)
    with pytest.raises(InteractionLogError) as caught:
        list(read_interactions(str(path)))
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert _where(path, message) == line


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=log_rows, noise=st.binary(max_size=200), at=st.integers(0, 500))
def test_any_bytes_in_a_log_give_the_readers_error_or_rows(rows, noise, at, tmp_path):
    content = b"".join(_lines(LOG_HEADER, rows, delimiter="\t"))
    at = min(at, len(content))
    path = tmp_path / "log.inter"
    path.write_bytes(content[:at] + noise + content[at:])
    try:
        read = list(read_interactions(str(path)))
    except InteractionLogError as error:
        assert f"{path}" in str(error)
    else:
        assert all(finite_number(str(row.rating)) is not None for row in read)


@given(rows=log_rows)
def test_clean_logs_read_back_row_for_row(rows, tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "log.inter"
    path.write_bytes(b"".join(_lines(LOG_HEADER, rows, delimiter="\t")))
    read = list(read_interactions(str(path)))
    assert [(r.user, r.item, r.rating, r.timestamp) for r in read] == [
        (user, item, float(rating), int(timestamp)) for user, item, rating, timestamp in rows
    ]


def test_a_quoted_field_may_span_lines_and_rows_keep_their_first_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_bytes(b'a,b\n1,"two\nlines"\n3,4\n')
    assert list(read_rows(str(path))) == [
        (1, ["a", "b"]),
        (2, ["1", "two\nlines"]),
        (4, ["3", "4"]),
    ]
    assert FIELD_LIMIT == 131072  # the field limit the messages above quote


LOG = b"user_id,item_id,rating,timestamp\n"


@pytest.mark.parametrize(
    ("domain", "name", "content", "named"),
    [
        (
            "finance_risk",
            "credit.csv",
            b"\xef\xbb\xbfstatus,duration\n",
            ":1: starts with a byte-order",
        ),
        ("finance_risk", "credit.csv", b"a,b\rc,d\r", ":1: a carriage return"),
        ("recommendation", "log.csv", LOG + b"u,i,4,inf\n", ":2: column 'timestamp'"),
        ("recommendation", "log.csv", LOG + b"u,i,\xe9,1\n", ":2: not UTF-8"),
    ],
)
def test_aet_run_exits_2_naming_the_line_without_a_traceback(
    capsys, tmp_path, isolated_logging, domain, name, content, named
):
    data = tmp_path / name
    data.write_bytes(content)
    code = main(["run", domain, "--data", str(data), "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert f"{data}{named}" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "tfx").exists()


def test_finite_numbers_only(tmp_path: Path) -> None:
    assert [finite_number(t) for t in ("4", " 2.5 ", "-1e3")] == [4.0, 2.5, -1000.0]
    assert [finite_number(t) for t in ("nan", "inf", "-inf", "1e400", "four", "")] == [None] * 6
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"a\x00,b\n")
    with pytest.raises(DelimitedTextError, match=r"nul\.csv:1: contains a NUL byte \(column 2\)"):
        list(read_rows(str(nul)))


def test_a_line_is_refused_as_it_grows_past_the_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(delimited, "CHUNK_BYTES", 64)
    monkeypatch.setattr(delimited, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "old-mac.csv"
    path.write_bytes(b"a,b\n" + b"1,2\r" * 10_000)
    with pytest.raises(DelimitedTextError, match=r"old-mac\.csv:2: a line over 1000 bytes \(it"):
        list(read_rows(str(path)))


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(DelimitedTextError, match=r"missing\.csv: cannot be read"):
        list(read_rows(str(tmp_path / "missing.csv")))
