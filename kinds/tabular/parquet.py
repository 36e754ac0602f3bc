"""Parquet tables as tf.Examples, read by the workers inside ExampleGen.

TFX ships a Parquet executor for FileBasedExampleGen, but it converts each row through
`dict_to_example`, which writes a zero, an empty string or False as a missing value
(it tests `if not value`), so a 0/1 label or a zero amount would vanish; and it builds
one Python dict per row. Here Beam reads each file in record batches
(`ReadFromParquetBatched`) and tfx_bsl's C++ encoder (`RecordBatchToExamples`) writes
the examples; what is written here is only the column adapter the encoder needs: it
takes list columns of int64, float32 or bytes, so each value column becomes a list
column of one value (a null: no value) in that type.

Beam's Parquet source yields a whole row group as one table (a million rows for a file
pyarrow wrote with its defaults), and what follows it is fused with the read: one worker
would encode, hash and write the whole group. So the tables are cut into slices of
SLICE_ROWS rows, sent on as Arrow IPC bytes (pickling a pyarrow 10 slice would carry its
whole table's buffers) and reshuffled, and each worker encodes the slices it is given.

Integers and booleans become int64 features, floating numbers float features (as
tf.Example stores them), strings and bytes bytes features, lists of those multivalent
features. Columns of other types (timestamps, decimals, structs) are left out of the
examples; the pre-flight check (preflight.py) refuses them where the config uses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import standard_component_specs
from tfx_bsl.coders import example_coder

SUFFIX = ".parquet"
# Rows a worker encodes at a time: a few MB of Arrow data for a table like German Credit.
SLICE_ROWS = 10_000


def example_type(arrow_type: pa.DataType) -> pa.DataType | None:
    """The type a column of `arrow_type` is encoded in, or None if it is left out."""
    if pa.types.is_boolean(arrow_type) or pa.types.is_integer(arrow_type):
        return pa.int64()
    if pa.types.is_floating(arrow_type):
        return pa.float32()
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    ):
        return pa.large_binary()
    return None


def value_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type of a column's values: its items' type for a list column."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return arrow_type.value_type
    return arrow_type


def _list_column(column: pa.Array, values_as: pa.DataType) -> pa.Array:
    """`column` as a list column in `values_as`: a value becomes a list of one, a null a
    null list (the example then has the feature with no value, as CsvExampleGen writes
    an empty cell)."""
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return column.cast(pa.large_list(values_as))
    valid = pc.is_valid(column)
    ends = pc.cumulative_sum(pc.cast(valid, pa.int64()))
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), ends])
    return pa.LargeListArray.from_arrays(
        offsets, column.drop_null().cast(values_as), mask=pc.invert(valid)
    )


def record_batch_examples(batch: pa.RecordBatch) -> list[bytes]:
    """Serialized tf.Examples of a record batch's rows, in order."""
    names, columns = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        encoded = example_type(value_type(column.type))
        if encoded is not None:
            names.append(name)
            columns.append(_list_column(column, encoded))
    return example_coder.RecordBatchToExamples(pa.RecordBatch.from_arrays(columns, names=names))


def table_slices(table: pa.Table) -> Iterator[bytes]:
    """The table in slices of at most SLICE_ROWS rows, each as an Arrow IPC stream."""
    for start in range(0, table.num_rows, SLICE_ROWS):
        sink = pa.BufferOutputStream()
        part = table.slice(start, SLICE_ROWS)
        with pa.ipc.new_stream(sink, part.schema) as writer:
            writer.write_table(part)
        yield sink.getvalue().to_pybytes()


def slice_examples(stream: bytes) -> Iterator[bytes]:
    """A slice's rows as serialized tf.Examples in their deterministic form, which is
    what ExampleGen hashes to pick a record's split: so the same rows fall in the same
    splits whether they were read from CSV or Parquet (the encoder's own bytes order the
    features otherwise), and ExampleGen neither serializes a proto to hash it nor once
    more to write it."""
    for batch in pa.ipc.open_stream(stream):
        for record in record_batch_examples(batch):
            yield tf.train.Example.FromString(record).SerializeToString(deterministic=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _parquet_to_examples(
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return (
        pipeline
        | "ReadParquet" >> beam.io.ReadFromParquetBatched(pattern)
        | "Slice" >> beam.FlatMap(table_slices)
        | "SpreadSlices" >> beam.Reshuffle()
        | "ToExamples" >> beam.FlatMap(slice_examples)
    )


class ParquetExecutor(BaseExampleGenExecutor):
    """FileBasedExampleGen's executor for Parquet files: TFX splits, hashes and writes
    the examples as it does for CsvExampleGen."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _parquet_to_examples
