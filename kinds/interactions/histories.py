"""Interaction logs to per-user histories: the Beam transforms InteractionsExampleGen
runs (example_gen.py) to turn rows of (user, item, rating, time) into one tf.Example
per user and split. The workers read the log, group it by user and split each user.

Each user's interactions are ordered by time (ties keep the log's order) and split
leave-last-out, the protocol of SASRec and most sequential-recommendation papers:
- test: the history before the last interaction, and the last item as the target;
- eval: the history before the second-to-last, and that item as the target;
- train: the history before the second-to-last interaction (the model learns the
  next item at every position of it), and its own last item as the target.
A user with fewer than `min_interactions` interactions (at least 3, so that every
split has a target) is counted and skipped, never dropped silently; a malformed row
stops the ingestion with its file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import apache_beam as beam
import tensorflow as tf

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
    bad: list[str] = field(default_factory=list)  # malformed rows, by file and line

    def problems(self, min_interactions: int) -> str | None:
        """Why this ingestion fails the run, or None: a malformed row, or no user with
        enough interactions for every split."""
        if self.bad:
            return "a malformed row stops the ingestion: " + "; ".join(self.bad)
        if not self.users.get("train"):
            return (
                f"no user has {min_interactions} or more interactions "
                f"({self.skipped_users} users skipped): lower data.min_interactions"
            )
        return None


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


class ReadLog(beam.DoFn):
    """A log's interactions, read where the worker runs; a malformed row ends the read
    and goes to the 'bad' output as its message (file, line, field), so the ingestion
    fails naming it instead of inside Beam's traceback."""

    def __init__(self, columns: LogColumnsConfig) -> None:
        self.columns = columns

    def process(self, path: str) -> Iterator:
        try:
            yield from read_interactions(path, self.columns)
        except InteractionLogError as error:
            yield beam.pvalue.TaggedOutput("bad", str(error))


class LeaveLastOut(beam.DoFn):
    """One user's interactions -> (split, serialized example) for each split; also the
    items the training split holds ('items': the catalogue) or a user skipped for having
    fewer than `min_interactions` ('skipped')."""

    def __init__(self, min_interactions: int) -> None:
        if min_interactions < 3:
            raise ValueError("min_interactions must be at least 3: one target for each split")
        self.min_interactions = min_interactions

    def process(self, keyed: tuple[str, Iterable[Interaction]]) -> Iterator:
        user, interactions = keyed
        ordered = sorted(interactions, key=lambda i: (i.timestamp, i.position))
        if len(ordered) < self.min_interactions:
            yield beam.pvalue.TaggedOutput("skipped", user)
            return
        yield "train", _example(user, ordered[:-3], ordered[-3])
        yield "eval", _example(user, ordered[:-2], ordered[-2])
        yield "test", _example(user, ordered[:-1], ordered[-1])
        for interaction in ordered[:-2]:  # the training history and its target
            yield beam.pvalue.TaggedOutput("items", interaction.item)


def histories(logs: beam.PCollection, columns: LogColumnsConfig, min_interactions: int) -> dict:
    """The leave-last-out histories of the logs' users, as Beam collections: 'examples'
    of (split, serialized example), 'interactions' read, 'items' of the training
    split, 'skipped' users and 'bad' rows."""
    read = logs | "Read" >> beam.ParDo(ReadLog(columns)).with_outputs("bad", main="interactions")
    split = (
        read.interactions
        | "ByUser" >> beam.Map(lambda i: (i.user, i))
        | "Group" >> beam.GroupByKey()
        | "Split"
        >> beam.ParDo(LeaveLastOut(min_interactions)).with_outputs(
            "items", "skipped", main="examples"
        )
    )
    return {
        "examples": split.examples,
        "interactions": read.interactions,
        "items": split.items,
        "skipped": split.skipped,
        "bad": read.bad,
    }
