"""One real Transform run over a slice of German Credit, shared by the component and
serving tests: `components.preprocessing.preprocessing_fn` analysed and applied by
tensorflow_transform's Beam implementation (`AnalyzeAndTransformDataset`), its
transform_fn and raw schema written as the Transform component writes them and read
back as a `tft.TFTransformOutput`, exactly what the Trainer receives from Transform.
Held-out "probe" rows (unseen category, unknown label, chosen ages) go through the
frozen graph afterwards, as they would at serving time.

The run is cached per session (Beam + TF tracing take a while), so every conftest that
needs it gets the same one.
"""

from __future__ import annotations

import csv
import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from aet.config import DomainConfig

TRAIN_ROWS = 40
UNSEEN_CATEGORY = "a purpose nobody has ever seen"
UNKNOWN_LABEL = "maybe"
# Ages the bucket test looks at, one held-out row each (boundaries are [25, 35, 50]).
PROBE_AGES = (19, 24, 25, 34, 35, 49, 50, 60)


@dataclass(frozen=True)
class TransformRun:
    config: DomainConfig
    schema: schema_pb2.Schema
    train_rows: list[dict]  # raw, typed (int / str), analysed and transformed
    train_transformed: list[dict]
    probe_rows: list[dict]  # held-out raw rows, not analysed
    transform_output_dir: str

    @functools.cached_property
    def tf_transform_output(self):
        import tensorflow_transform as tft

        return tft.TFTransformOutput(self.transform_output_dir)

    @functools.cached_property
    def probe_transformed(self) -> dict:
        """The probe rows through the frozen Transform graph, as serving applies it:
        {output name: numpy array [n, 1]}."""
        output = self.tf_transform_output
        parsed = tf.io.parse_example(
            [to_example(row) for row in self.probe_rows], output.raw_feature_spec()
        )
        return {k: v.numpy() for k, v in output.transform_features_layer()(parsed).items()}


def load_schema(config: DomainConfig) -> schema_pb2.Schema:
    return text_format.Parse(
        config.resolve(config.data.schema_file).read_text(), schema_pb2.Schema()
    )


def read_rows(csv_path: Path, schema: schema_pb2.Schema, limit: int) -> list[dict]:
    """The first `limit` CSV rows with INT features as ints, as CsvExampleGen types them."""
    kinds = {feature.name: feature.type for feature in schema.feature}
    rows = []
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                {
                    name: int(value) if kinds[name] == schema_pb2.INT else value
                    for name, value in row.items()
                }
            )
            if len(rows) == limit:
                break
    return rows


def make_probe_rows(train_rows: list[dict], config: DomainConfig) -> list[dict]:
    """Held-out rows: one per probe age, then an unseen category, then an unknown label."""
    rows = []
    for index, age in enumerate(PROBE_AGES):
        rows.append({**train_rows[index], "age_in_years": age})
    rows.append({**train_rows[0], "purpose": UNSEEN_CATEGORY})
    rows.append({**train_rows[1], config.features.label.name: UNKNOWN_LABEL})
    return rows


def to_example(row: dict, omit: tuple[str, ...] = ()) -> bytes:
    """A serialized tf.Example of a raw row, as CsvExampleGen writes it."""
    features = {}
    for name, value in row.items():
        if name in omit:
            continue
        if isinstance(value, int):
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            features[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[str(value).encode()])
            )
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def _instance(row: dict) -> dict:
    # Every schema feature has shape [1]: an instance holds a one-element list per feature.
    return {name: [value] for name, value in row.items()}


def _dump(values: list, path: str) -> None:
    with open(path, "wb") as handle:
        pickle.dump(values, handle)


def run_transform(
    config: DomainConfig, csv_path: Path, work_dir: Path, train_rows: int = TRAIN_ROWS
) -> TransformRun:
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata

    from aet.components.features import to_custom_config
    from aet.components.preprocessing import preprocessing_fn

    schema = load_schema(config)
    train = read_rows(csv_path, schema, train_rows)
    probes = make_probe_rows(train, config)
    metadata = dataset_metadata.DatasetMetadata(schema)
    output_dir = os.fspath(work_dir / "transform_output")
    train_out = os.fspath(work_dir / "train_transformed.pickle")
    fn = functools.partial(preprocessing_fn, custom_config=to_custom_config(config))

    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=os.fspath(work_dir / "tmp")):
        raw_train = pipeline | "Train" >> beam.Create([_instance(r) for r in train])
        (transformed_train, _), transform_fn = (
            raw_train,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
        # Transform's executor also records the raw schema beside the transform_fn.
        _ = metadata | "WriteRawMetadata" >> tft_beam.WriteMetadata(
            os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline
        )
        _ = (
            transformed_train
            | "ToList" >> beam.combiners.ToList()
            | "Dump" >> beam.Map(_dump, train_out)
        )

    def load(path: str) -> list[dict]:
        with open(path, "rb") as handle:
            return pickle.load(handle)

    return TransformRun(
        config=config,
        schema=schema,
        train_rows=train,
        train_transformed=load(train_out),
        probe_rows=probes,
        transform_output_dir=output_dir,
    )


_RUNS: dict[str, TransformRun] = {}


def shared_transform_run(tmp_path_factory, config: DomainConfig, csv_path: Path) -> TransformRun:
    """The session's one Transform run for `config` (made on first use)."""
    if config.name not in _RUNS:
        _RUNS[config.name] = run_transform(
            config, csv_path, tmp_path_factory.mktemp(f"transform_{config.name}")
        )
    return _RUNS[config.name]
