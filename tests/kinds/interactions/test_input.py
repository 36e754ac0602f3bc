"""Interaction-log input for a run: a log ingested once into leave-last-out histories,
reused while neither the log nor the settings change, and nothing left by a bad log."""

from __future__ import annotations

from pathlib import Path

import pytest

from aet.kinds.interactions.histories import InteractionLogError
from aet.kinds.interactions.input import catalogue_size, ingest_histories, log_file
from aet.pipelines.domains import load_domain


def _log(path: Path, users: int = 4, items_each: int = 5) -> Path:
    rows = [
        f"u{user},i{(user + step) % 7},4,{100 + step}"
        for user in range(users)
        for step in range(items_each)
    ]
    path.write_text("user_id,item_id,rating,timestamp\n" + "\n".join(rows) + "\n")
    return path


def test_a_log_is_ingested_once_then_reused(tmp_path: Path) -> None:
    config = load_domain("recommendation")
    log = _log(tmp_path / "log.csv")

    first = ingest_histories(config, str(log), str(tmp_path / "run"))
    assert not first.reused
    assert first.report.users == {"train": 4, "eval": 4, "test": 4}
    assert first.report.interactions == 20 and first.report.skipped_users == 0
    assert catalogue_size(first.examples_dir) == first.report.catalogue == 6  # i0..i5
    assert "  users per split: train 4, eval 4, test 4" in first.describe()

    again = ingest_histories(config, str(log), str(tmp_path / "run"))
    assert again.reused and again.examples_dir == first.examples_dir
    assert again.report == first.report

    stricter = load_domain("recommendation", ["data.min_interactions=4"])
    other = ingest_histories(stricter, str(log), str(tmp_path / "run"))
    assert not other.reused and other.examples_dir != first.examples_dir


def test_a_log_where_every_user_is_skipped_is_refused(tmp_path: Path) -> None:
    config = load_domain("recommendation", ["data.min_interactions=6"])
    with pytest.raises(InteractionLogError, match="no user has 6 or more interactions"):
        ingest_histories(config, str(_log(tmp_path / "log.csv")), str(tmp_path / "run"))
    assert not list((tmp_path / "run" / "ingested").glob("*"))


def test_a_bad_log_leaves_no_ingested_folder(tmp_path: Path) -> None:
    config = load_domain("recommendation")
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,rating,timestamp\nu1,i1,4,100\nu1,,4,101\n")
    with pytest.raises(InteractionLogError, match=r"log\.csv:3: empty user or item id"):
        ingest_histories(config, str(log), str(tmp_path / "run"))
    assert not list((tmp_path / "run" / "ingested").glob("*"))


def test_a_span_folder_holding_one_log_is_read_as_that_log(tmp_path: Path) -> None:
    config = load_domain("recommendation")
    span = tmp_path / "span-01"
    span.mkdir()
    log = _log(span / "ratings.csv")
    (span / "README.txt").write_text("not a log")
    assert log_file(span) == log
    ingested = ingest_histories(config, str(span), str(tmp_path / "run"))
    assert ingested.report.interactions == 20
    _log(span / "more.csv")
    with pytest.raises(
        ValueError, match=r"span-01: .* holds one .* found 2 \(more.csv, ratings.csv\)"
    ):
        log_file(span)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty: .* found none"):
        log_file(empty)
