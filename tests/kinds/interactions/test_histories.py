"""Interaction logs' rows: named columns read, bad rows named by file and line (the
histories themselves: test_example_gen.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aet.kinds.interactions.histories import InteractionLogError, LeaveLastOut, read_interactions

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def _write(path: Path, rows: list[str], header: str = HEADER) -> str:
    path.write_text(header + "".join(rows))
    return str(path)


def test_csv_logs_with_named_columns_are_read(tmp_path: Path) -> None:
    from aet.config import LogColumnsConfig

    log = _write(tmp_path / "log.csv", ["7,42,4.5,1000\n"], header="uid,movie,stars,when\n")
    (row,) = read_interactions(
        log, LogColumnsConfig(user="uid", item="movie", rating="stars", timestamp="when")
    )
    assert (row.user, row.item, row.rating, row.timestamp) == ("7", "42", 4.5, 1000)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["u1\ti1\t4\n"], r"log\.inter:2: expected 4 fields, found 3"),
        (["u1\ti1\t4\t1\n", "u1\ti2\tgood\t2\n"], r"log\.inter:3: column 'rating': 'good'"),
        (["\ti1\t4\t1\n"], r"log\.inter:2: empty user or item id"),
    ],
)
def test_a_malformed_row_is_named_by_file_and_line(tmp_path: Path, rows, message) -> None:
    log = _write(tmp_path / "log.inter", rows)
    with pytest.raises(InteractionLogError, match=message):
        list(read_interactions(log))


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.inter", [], header="user_id:token\titem_id:token\n")
    with pytest.raises(InteractionLogError, match=r"missing column\(s\) \['rating', 'timestamp'\]"):
        list(read_interactions(log))


def test_fewer_than_three_interactions_cannot_fill_every_split() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        LeaveLastOut(min_interactions=2)
