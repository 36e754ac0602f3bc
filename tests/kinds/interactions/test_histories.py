"""Interaction logs become per-user histories split leave-last-out: time order, the
targets of each split, users with too few interactions counted, bad rows named."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from aet.kinds.interactions.histories import (
    InteractionLogError,
    build_histories,
    read_interactions,
)

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def _write(path: Path, rows: list[str], header: str = HEADER) -> str:
    path.write_text(header + "".join(rows))
    return str(path)


def _read(output: Path, split: str) -> dict[str, dict]:
    files = tf.io.gfile.glob(str(output / f"Split-{split}" / "*"))
    examples = {}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        user = feature["user_id"].bytes_list.value[0].decode()
        examples[user] = {
            "history": [v.decode() for v in feature["history_items"].bytes_list.value],
            "ratings": list(feature["history_ratings"].float_list.value),
            "target": feature["target_item"].bytes_list.value[0].decode(),
        }
    return examples


def test_histories_are_time_ordered_and_split_leave_last_out(tmp_path: Path) -> None:
    # u1's rows are out of time order in the log, and two share a time (log order wins);
    # u2 has 2 interactions, fewer than the minimum of 3.
    log = _write(
        tmp_path / "log.inter",
        [
            "u1\ti4\t4\t400\n",
            "u1\ti1\t5\t100\n",
            "u1\ti2\t3\t200\n",
            "u1\ti3\t2\t200\n",
            "u1\ti5\t1\t500\n",
            "u2\ti1\t3\t10\n",
            "u2\ti2\t3\t20\n",
        ],
    )
    output = tmp_path / "histories"
    report = build_histories(read_interactions(log), str(output), min_interactions=3)

    assert report.users == {"train": 1, "eval": 1, "test": 1}
    assert report.skipped_users == 1 and report.interactions == 7
    assert report.catalogue == 3  # the training split holds u1's i1, i2 (history) and i3
    assert _read(output, "test")["u1"]["history"] == ["i1", "i2", "i3", "i4"]
    assert _read(output, "test")["u1"]["target"] == "i5"
    assert _read(output, "eval")["u1"] == {
        "history": ["i1", "i2", "i3"],
        "ratings": [5.0, 3.0, 2.0],
        "target": "i4",
    }
    assert _read(output, "train")["u1"]["history"] == ["i1", "i2"]
    assert _read(output, "train")["u1"]["target"] == "i3"


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


def test_fewer_than_three_interactions_cannot_fill_every_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        build_histories([], str(tmp_path / "out"), min_interactions=2)
