"""`pipelines.frozen_schema`: an inferred schema frozen on the first pushed run holds
later spans to what the served model was trained on."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2

from aet.config import DomainConfig
from aet.pipelines.factory import create_pipeline, run_layout
from aet.pipelines.frozen_schema import FROZEN_SCHEMA, freeze_schema, frozen_schema

UNEXPECTED = anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES


@pytest.fixture
def inferring(finance_config) -> DomainConfig:
    """finance_risk as a domain that curates no schema."""
    raw = finance_config.dict()
    raw["data"]["schema_file"] = None
    return DomainConfig.parse_obj(raw)


@pytest.fixture(scope="module")
def credit(german_credit_csv) -> pd.DataFrame:
    return pd.read_csv(german_credit_csv).sample(frac=1.0, random_state=0)


def _schema_gen_output(frame: pd.DataFrame, folder: Path) -> str:
    """A folder as SchemaGen writes it: the schema TFDV infers from `frame`."""
    folder.mkdir(parents=True)
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame))
    tfdv.write_schema_text(schema, os.fspath(folder / "schema.pbtxt"))
    return os.fspath(folder)


def _anomalies(schema_file: str, frame: pd.DataFrame) -> dict[str, set[int]]:
    schema = tfdv.load_schema_text(schema_file)
    found = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)
    return {name: {r.type for r in info.reason} for name, info in found.anomaly_info.items()}


def test_later_spans_are_held_to_the_first_pushed_runs_schema(inferring, credit, tmp_path) -> None:
    output = tmp_path / "run"
    assert frozen_schema(output, inferring) is None  # nothing pushed yet: SchemaGen infers
    frozen = freeze_schema(output, inferring, _schema_gen_output(credit[:300], tmp_path / "s"), 1)
    assert frozen == os.fspath(output / FROZEN_SCHEMA) == frozen_schema(output, inferring)
    assert "span 1, whose model was pushed" in Path(frozen).read_text()
    later = credit[300:600].copy()
    assert _anomalies(frozen, later) == {}
    later.loc[later.index[:2], "purpose"] = "crypto"  # under 1%: read as out-of-vocabulary
    assert _anomalies(frozen, later) == {}
    later.loc[later.index[:30], "purpose"] = "crypto"  # 10% of the span: an anomaly
    assert _anomalies(frozen, later) == {"purpose": {UNEXPECTED}}
    label = credit[300:600].copy()
    label.loc[label.index[:1], "creditability"] = "unknown"  # no model can answer it
    assert set(_anomalies(frozen, label)) == {"creditability"}
    assert "credit_amount" in _anomalies(frozen, credit[300:600].drop(columns="credit_amount"))


def test_the_schema_is_frozen_once_and_never_for_a_curated_domain(
    inferring, finance_config, credit, tmp_path
) -> None:
    output = tmp_path / "run"
    first = freeze_schema(output, inferring, _schema_gen_output(credit[:300], tmp_path / "1"), 1)
    kept = Path(first).read_text()
    assert (
        freeze_schema(output, inferring, _schema_gen_output(credit[300:], tmp_path / "2"), 3)
        is None
    )
    assert Path(first).read_text() == kept
    assert freeze_schema(tmp_path / "curated", finance_config, os.fspath(tmp_path / "1"), 1) is None
    assert frozen_schema(output, finance_config) is None  # the curated schema stands


def test_a_frozen_schema_replaces_schema_gen(inferring, tmp_path) -> None:
    frozen = tmp_path / "frozen.pbtxt"
    layout = run_layout(tmp_path / "run", inferring)
    data = str(inferring.data.default)
    inferred = {c.id: c for c in create_pipeline(inferring, data_path=data, **layout).components}
    assert "SchemaGen" in inferred and "ImportSchemaGen" not in inferred
    pipeline = create_pipeline(inferring, data_path=data, schema_path=os.fspath(frozen), **layout)
    components = {c.id: c for c in pipeline.components}
    assert "SchemaGen" not in components
    assert components["ImportSchemaGen"].exec_properties["schema_file"] == os.fspath(frozen)
