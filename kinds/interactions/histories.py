"""Interaction logs to per-user histories: a Beam job that turns
rows of (user, item, rating, time) into one tf.Example per user and split, in the
layout TFX's ImportExampleGen reads (`<output>/Split-<name>/*.tfrecord.gz`).

Each user's interactions are ordered by time (ties keep the log's order) and split
leave-last-out, the protocol of SASRec and most sequential-recommendation papers:
- test: the history before the last interaction, and the last item as the target;
- eval: the history before the second-to-last, and that item as the target;
- train: the history before the second-to-last interaction (the model learns the
  next item at every position of it), and its own last item as the target.
A user with fewer than `min_interactions` interactions (at least 3, so that every
split has a target) is counted and skipped, never dropped silently; a malformed row
stops the job with its file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import apache_beam as beam
import tensorflow as tf

from aet.components.split_records import split_records, write_splits
from aet.config import LogColumnsConfig
from aet.config.contract import HISTORY_ITEMS, TAB_SEPARATED_SUFFIXES, TARGET_ITEM, USER_ID
from aet.kinds.delimited import DelimitedTextError, finite_number, read_rows

SPLITS = ("train", "eval", "test")


class InteractionLogError(ValueError):
    """A log that cannot be read: the message names the file, the line and the field."""


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    rating: float
    timestamp: int
    position: int  # the row's place in the log: orders interactions at the same time


@dataclass
class HistoryReport:
    users: dict[str, int] = field(default_factory=dict)  # split -> examples written
    skipped_users: int = 0  # fewer interactions than the minimum
    interactions: int = 0
    catalogue: int = 0  # distinct items in the training split: the model's vocabulary


def read_interactions(path: str, columns: LogColumnsConfig | None = None) -> Iterator[Interaction]:
    """Rows of a tab-separated `.inter` file or a CSV, with their file and line on error;
    `columns` names the log's columns (default: user_id, item_id, rating, timestamp)."""
    columns = columns or LogColumnsConfig()
    delimiter = "\t" if path.endswith(TAB_SEPARATED_SUFFIXES) else ","
    records = read_rows(path, delimiter)
    try:
        _, first = next(records, (1, []))
        header = [name.split(":", 1)[0] for name in first]
        wanted = (columns.user, columns.item, columns.rating, columns.timestamp)
        missing = [name for name in wanted if name not in header]
        if missing:
            raise InteractionLogError(f"{path}: missing column(s) {missing} (header: {header})")
        index = [header.index(name) for name in wanted]
        for position, (line, row) in enumerate(records):
            if not row:
                continue
            if len(row) != len(header):
                raise InteractionLogError(
                    f"{path}:{line}: expected {len(header)} fields, found {len(row)}"
                )
            user, item, rating, timestamp = (row[i].strip() for i in index)
            if not user or not item:
                raise InteractionLogError(f"{path}:{line}: empty user or item id")
            yield Interaction(
                user,
                item,
                _field(
                    path, line, columns.rating, rating, finite_number(rating), "a finite number"
                ),
                int(_field(path, line, columns.timestamp, timestamp, _timestamp(timestamp), TIME)),
                position,
            )
    except DelimitedTextError as error:
        raise InteractionLogError(str(error)) from error


NUMBER = "a finite number"
TIME = "a finite number of seconds within int64"


def _timestamp(text: str) -> float | None:
    """A time as a number of seconds that fits the examples' int64, or None."""
    value = finite_number(text)
    return value if value is not None and abs(value) < 2**63 else None


def _field(path: str, line: int, name: str, text: str, value: float | None, what: str) -> float:
    if value is None:
        raise InteractionLogError(f"{path}:{line}: column '{name}': '{text[:40]}' is not {what}")
    return value


def _example(user: str, history: Sequence[Interaction], target: Interaction) -> bytes:
    def feature(values: list, kind: str) -> tf.train.Feature:
        if kind == "bytes":
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if kind == "float":
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    features = {
        USER_ID: feature([user.encode()], "bytes"),
        HISTORY_ITEMS: feature([i.item.encode() for i in history], "bytes"),
        "history_ratings": feature([i.rating for i in history], "float"),
        "history_timestamps": feature([i.timestamp for i in history], "int"),
        TARGET_ITEM: feature([target.item.encode()], "bytes"),
        "target_timestamp": feature([target.timestamp], "int"),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def leave_last_out(
    user: str, interactions: Iterable[Interaction], min_interactions: int
) -> Iterator[tuple[str, bytes]]:
    """(split, serialized example) for one user, or a ('skipped', b'') marker."""
    ordered = sorted(interactions, key=lambda i: (i.timestamp, i.position))
    if len(ordered) < min_interactions:
        yield "skipped", b""
        return
    yield "train", _example(user, ordered[:-3], ordered[-3])
    yield "eval", _example(user, ordered[:-2], ordered[-2])
    yield "test", _example(user, ordered[:-1], ordered[-1])


def build_histories(
    interactions: Iterable[Interaction],
    output_dir: str,
    min_interactions: int = 5,
    beam_pipeline_args: Sequence[str] = (),
) -> HistoryReport:
    """Groups `interactions` by user and writes the leave-last-out splits under
    `output_dir`; returns how many users went to each split and how many were skipped."""
    if min_interactions < 3:
        raise ValueError("min_interactions must be at least 3: one target for each split")
    if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir):
        raise InteractionLogError(f"{output_dir}: not empty; histories go into a new folder")
    interactions = list(interactions)
    if not interactions:
        raise InteractionLogError("the interaction log has no rows")
    options = beam.options.pipeline_options.PipelineOptions(list(beam_pipeline_args))
    with beam.Pipeline(options=options) as pipeline:
        per_split = (
            pipeline
            | "Interactions" >> beam.Create(interactions)
            | "ByUser" >> beam.Map(lambda i: (i.user, i))
            | "Group" >> beam.GroupByKey()
            | "Split" >> beam.FlatMap(lambda kv: leave_last_out(kv[0], kv[1], min_interactions))
        )
        write_splits(per_split, output_dir, SPLITS, "histories")
        _ = (
            per_split
            | "Skipped" >> beam.Filter(lambda kv: kv[0] == "skipped")
            | "CountSkipped" >> beam.combiners.Count.Globally()
            | "WriteSkipped"
            >> beam.io.WriteToText(os.path.join(output_dir, ".skipped"), shard_name_template="")
        )
    report = HistoryReport(interactions=len(interactions))
    training_items = set()
    for split in SPLITS:
        report.users[split] = 0
        for record in split_records(output_dir, split).as_numpy_iterator():
            report.users[split] += 1
            if split == "train":  # one pass: count the users and collect the catalogue
                features = tf.train.Example.FromString(record).features.feature
                training_items.update(features[HISTORY_ITEMS].bytes_list.value)
                training_items.update(features[TARGET_ITEM].bytes_list.value)
    report.catalogue = len(training_items)
    with tf.io.gfile.GFile(os.path.join(output_dir, ".skipped")) as skipped:
        report.skipped_users = int(skipped.read().strip() or 0)
    if not report.users["train"]:
        raise InteractionLogError(
            f"no user has {min_interactions} or more interactions "
            f"({report.skipped_users} users skipped): lower data.min_interactions"
        )
    return report
