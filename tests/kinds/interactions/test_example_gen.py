"""InteractionsExampleGen turns a log into per-user histories split leave-last-out, in
time order, with the report the Evaluator sizes coverage by; a bad log fails it naming
why; and in a pipeline it is cached on the same log and reads a span by its number."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx.orchestration import metadata

from aet.components.ingestion_report import report_if_any
from aet.components.spans import SpanInput
from aet.kinds.interactions.example_gen import COMPONENT_ID, interactions_example_gen
from aet.kinds.interactions.histories import InteractionLogError
from aet.pipelines.domains import load_domain
from aet.pipelines.spans import stage_span
from tests.kinds.ingesting import run_alone, run_executor

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
# u1's rows are out of time order, and two share a time (the log's order wins); u2 has
# 2 interactions, fewer than the minimum of 3.
ROWS = [
    "u1\ti4\t4\t400\n",
    "u1\ti1\t5\t100\n",
    "u1\ti2\t3\t200\n",
    "u1\ti3\t2\t200\n",
    "u1\ti5\t1\t500\n",
    "u2\ti1\t3\t10\n",
    "u2\ti2\t3\t20\n",
]


def _write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(rows))
    return path


def _ingest(data: Path, output: Path, overrides: tuple[str, ...] = ()) -> dict:
    config = load_domain("recommendation", ["data.min_interactions=3", *overrides])
    return run_executor(interactions_example_gen(config, str(data)), output)


def _histories(output: Path, split: str) -> dict[str, dict]:
    files = tf.io.gfile.glob(str(output / f"Split-{split}" / "*"))
    examples = {}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        examples[feature["user_id"].bytes_list.value[0].decode()] = {
            "history": [v.decode() for v in feature["history_items"].bytes_list.value],
            "ratings": list(feature["history_ratings"].float_list.value),
            "target": feature["target_item"].bytes_list.value[0].decode(),
        }
    return examples


def test_histories_are_time_ordered_and_split_leave_last_out(tmp_path: Path) -> None:
    output = tmp_path / "examples"
    report = _ingest(_write(tmp_path / "log.inter", ROWS), output)

    assert report["users"] == {"train": 1, "eval": 1, "test": 1}
    assert report["skipped_users"] == 1 and report["interactions"] == 7
    assert report["catalogue"] == 3  # the training split holds u1's i1, i2 (history) and i3
    assert report["bad"] == []
    assert _histories(output, "test")["u1"]["history"] == ["i1", "i2", "i3", "i4"]
    assert _histories(output, "test")["u1"]["target"] == "i5"
    assert _histories(output, "eval")["u1"] == {
        "history": ["i1", "i2", "i3"],
        "ratings": [5.0, 3.0, 2.0],
        "target": "i4",
    }
    assert _histories(output, "train")["u1"] == {
        "history": ["i1", "i2"],
        "ratings": [5.0, 3.0],
        "target": "i3",
    }


def test_a_folder_is_read_as_the_one_log_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    _write(folder / "ratings.inter", ROWS)
    (folder / "README.txt").write_text("not a log")
    assert _ingest(folder, tmp_path / "examples")["interactions"] == 7
    _write(folder / "more.inter", ROWS)
    with pytest.raises(ValueError, match=r"holds one .* found 2 \(more.inter, ratings.inter\)"):
        _ingest(folder, tmp_path / "again")


def test_a_malformed_row_fails_the_ingestion_naming_its_line(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.inter", [*ROWS, "u3\ti1\tgood\t5\n"])
    with pytest.raises(InteractionLogError, match=r"log\.inter:9: column 'rating': 'good'"):
        _ingest(log, tmp_path / "examples")


def test_a_log_where_every_user_is_skipped_is_refused(tmp_path: Path) -> None:
    log = _write(tmp_path / "log.inter", ROWS)
    with pytest.raises(InteractionLogError, match=r"no user has 6 or more .*\(2 users skipped\)"):
        _ingest(log, tmp_path / "examples", ("data.min_interactions=6",))


def _run(root: Path, log: Path, span: SpanInput | None = None) -> tuple[str, str]:
    config = load_domain("recommendation", ["data.min_interactions=3"])
    return run_alone(root, interactions_example_gen(config, str(log), span))


def test_in_a_pipeline_the_same_log_is_cached_and_a_span_carries_its_number(
    tmp_path: Path,
) -> None:
    log = _write(tmp_path / "log.inter", ROWS)
    state, first = _run(tmp_path, log)
    assert state == "complete" and report_if_any(first)["interactions"] == 7
    assert _run(tmp_path, log) == ("cached", first)
    _write(log, [*ROWS, "u2\ti3\t3\t30\n"])  # u2 now has enough interactions
    state, changed = _run(tmp_path, log)
    assert state == "complete" and report_if_any(changed)["users"]["train"] == 2

    span = stage_span(tmp_path / "output", str(log), str(log))
    state, examples = _run(tmp_path, log, span)
    assert state == "complete" and f"/{COMPONENT_ID}/" in examples
    assert report_if_any(examples)["interactions"] == 8
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    )
    (artifact,) = store.get_artifacts_by_uri(examples)
    assert artifact.custom_properties["span"].int_value == 1
