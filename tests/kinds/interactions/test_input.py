"""The interaction log a run reads: a file, or the one log a folder holds, every row
checked before the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from aet.kinds.interactions.histories import InteractionLogError
from aet.kinds.interactions.input import check_log, log_file
from aet.pipelines.domains import load_domain


def _log(path: Path, users: int = 4, items_each: int = 5) -> Path:
    rows = [
        f"u{user},i{(user + step) % 7},4,{100 + step}"
        for user in range(users)
        for step in range(items_each)
    ]
    path.write_text("user_id,item_id,rating,timestamp\n" + "\n".join(rows) + "\n")
    return path


def test_every_row_is_counted_and_a_bad_one_named_before_the_pipeline(tmp_path: Path) -> None:
    config = load_domain("recommendation")
    log = _log(tmp_path / "log.csv")
    assert check_log(config, log) == (log, 20)
    log.write_text("user_id,item_id,rating,timestamp\nu1,i1,4,100\nu1,,4,101\n")
    with pytest.raises(InteractionLogError, match=r"log\.csv:3: empty user or item id"):
        check_log(config, log)
    log.write_text("user_id,item_id,rating,timestamp\n")
    with pytest.raises(InteractionLogError, match=r"log\.csv: the interaction log has no rows"):
        check_log(config, log)


def test_a_span_folder_holding_one_log_is_read_as_that_log(tmp_path: Path) -> None:
    config = load_domain("recommendation")
    span = tmp_path / "span-01"
    span.mkdir()
    log = _log(span / "ratings.csv")
    (span / "README.txt").write_text("not a log")
    assert log_file(span) == log
    assert check_log(config, span) == (log, 20)
    _log(span / "more.csv")
    with pytest.raises(
        ValueError, match=r"span-01: .* holds one .* found 2 \(more.csv, ratings.csv\)"
    ):
        log_file(span)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty: .* found none"):
        log_file(empty)
