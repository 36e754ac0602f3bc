"""Parquet input: values keep their types (a zero is a value, a null is none), and TFX's
ExampleGen with the Parquet executor writes German Credit exactly as CsvExampleGen
writes the same rows: the same examples in the same splits."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen.executor import Executor as CsvExecutor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from aet.components.split_records import split_records
from aet.kinds.tabular import parquet
from aet.kinds.tabular.parquet import ParquetExecutor, record_batch_examples, table_slices


def _values(feature: tf.train.Feature) -> tuple[str, list]:
    kind = feature.WhichOneof("kind")
    return kind, list(getattr(feature, kind).value) if kind else []


def _rows(records) -> list[dict]:
    features = (tf.train.Example.FromString(record).features.feature for record in records)
    return [{name: _values(value) for name, value in row.items()} for row in features]


def test_zeros_empty_strings_and_false_are_values_and_a_null_is_none() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "count": pa.array([0, 7, None], pa.int32()),
            "amount": pa.array([0.0, 2.5, None]),
            "purpose": pa.array(["", "car", None]),
            "flag": pa.array([False, True, None]),
            "codes": pa.array([[1, 2], [], None], pa.list_(pa.int16())),
        }
    )
    rows = _rows(record_batch_examples(batch))
    assert rows[0] == {
        "count": ("int64_list", [0]),
        "amount": ("float_list", [0.0]),
        "purpose": ("bytes_list", [b""]),
        "flag": ("int64_list", [0]),
        "codes": ("int64_list", [1, 2]),
    }
    assert rows[1]["flag"] == ("int64_list", [1]) and rows[1]["codes"][1] == []
    assert all(values == [] for _, values in rows[2].values())


def test_columns_a_tf_example_cannot_hold_are_left_out() -> None:
    batch = pa.RecordBatch.from_pydict(
        {"age": [30], "seen": pa.array([datetime.datetime(2026, 1, 1)], pa.timestamp("us"))}
    )
    assert list(_rows(record_batch_examples(batch))[0]) == ["age"]


def _run(executor, input_base: Path, pattern: str, output: Path, splits: dict) -> dict:
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    buckets = [
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=round(share * 100))
        for name, share in splits.items()
    ]
    executor.Do(
        {},
        {standard_component_specs.EXAMPLES_KEY: [examples]},
        {
            standard_component_specs.INPUT_BASE_KEY: str(input_base),
            standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
                example_gen_pb2.Input(
                    splits=[example_gen_pb2.Input.Split(name="all", pattern=pattern)]
                )
            ),
            standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
                example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=buckets))
            ),
            standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        },
    )
    return {
        split: sorted(
            _rows(r.numpy() for r in split_records(str(output), split)),
            key=lambda row: repr(sorted(row.items())),
        )
        for split in splits
    }


def test_a_table_is_cut_into_slices_that_carry_only_their_own_rows(monkeypatch) -> None:
    monkeypatch.setattr(parquet, "SLICE_ROWS", 4)
    table = pa.table({"n": list(range(10)), "word": [str(i) * 500 for i in range(10)]})
    slices = [pa.ipc.open_stream(stream).read_all() for stream in table_slices(table)]
    assert [part.num_rows for part in slices] == [4, 4, 2]
    assert pa.concat_tables(slices).equals(table)
    # A slice carries its own rows, not its whole table's buffers (as pickling would).
    assert len(next(table_slices(table))) < table.nbytes / 2


def test_parquet_examples_and_splits_equal_csv_example_gens(
    tmp_path: Path, german_credit_csv: Path, finance_config, monkeypatch
) -> None:
    monkeypatch.setattr(parquet, "SLICE_ROWS", 300)  # four slices, spread between stages
    table = pyarrow.csv.read_csv(german_credit_csv)
    folder = tmp_path / "parquet"
    folder.mkdir()
    pq.write_table(table, folder / "credit.parquet")
    splits = finance_config.data.splits
    from_csv = _run(
        CsvExecutor(), german_credit_csv.parent, german_credit_csv.name, tmp_path / "c", splits
    )
    from_parquet = _run(ParquetExecutor(), folder, "*.parquet", tmp_path / "p", splits)
    assert sum(len(rows) for rows in from_parquet.values()) == table.num_rows
    for split in splits:
        assert from_parquet[split] == from_csv[split], split
