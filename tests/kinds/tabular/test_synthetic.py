"""Synthetic tabular warm-up records: every input feature, encoded as the data's is,
within the sample's range, without the label, and none of the sample's rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from aet.kinds.tabular.synthetic import synthetic_examples
from tests.subprocesses import ROOT
from tests.transform_fixture import load_schema, read_rows, to_example


def test_records_look_like_the_sample_field_by_field_but_are_none_of_its_rows(
    finance_config, german_credit_csv: Path
) -> None:
    rows = read_rows(german_credit_csv, load_schema(finance_config), limit=8)
    sample = [to_example(row) for row in rows]
    made = [tf.train.Example.FromString(e) for e in synthetic_examples(finance_config, sample, 42)]
    inputs = finance_config.features.input_names
    assert len(made) == len(sample)
    assert all(set(example.features.feature) == set(inputs) for example in made)
    for name in finance_config.features.numeric:
        seen = [int(row[name]) for row in rows]
        drawn = [e.features.feature[name].int64_list.value[0] for e in made]
        assert all(min(seen) <= value <= max(seen) for value in drawn)
    for name in finance_config.features.categorical:
        seen = {row[name].encode() for row in rows}
        assert {e.features.feature[name].bytes_list.value[0] for e in made} <= seen
    real = {tuple(str(row[name]) for name in inputs) for row in rows}
    for example in made:
        features = example.features.feature
        values = tuple(
            str(features[name].int64_list.value[0])
            if name in finance_config.features.numeric
            else features[name].bytes_list.value[0].decode()
            for name in inputs
        )
        assert values not in real
    again = synthetic_examples(finance_config, sample, 42)  # one seed, one set of records
    assert [tf.train.Example.FromString(e) for e in again] == made


def test_a_numeric_category_keeps_its_encoding_and_takes_values_the_sample_holds(
    finance_config, german_credit_csv: Path
) -> None:
    features = finance_config.features
    as_category = "present_residence_since"  # an int64 column, read as categories here
    config = finance_config.copy(
        update={
            "features": features.copy(
                update={
                    "numeric": [name for name in features.numeric if name != as_category],
                    "categorical": [*features.categorical, as_category],
                }
            )
        }
    )
    rows = read_rows(german_credit_csv, load_schema(finance_config), limit=8)
    made = synthetic_examples(config, [to_example(row) for row in rows], 1)
    drawn = [tf.train.Example.FromString(e).features.feature[as_category] for e in made]
    assert all(feature.WhichOneof("kind") == "int64_list" for feature in drawn)
    assert {feature.int64_list.value[0] for feature in drawn} <= {row[as_category] for row in rows}


# Builds the synthetic records of the first 8 German Credit rows and prints their hash.
SYNTHESIZE = """
import hashlib
from aet.kinds.tabular.synthetic import synthetic_examples
from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from tests.subprocesses import ROOT
from tests.transform_fixture import load_schema, read_rows, to_example
config = load_domain("finance_risk")
rows = read_rows(default_data_path(config), load_schema(config), limit=8)
made = synthetic_examples(config, [to_example(row) for row in rows], 42)
print(hashlib.sha256(b"".join(made)).hexdigest())
"""


def test_the_records_are_the_same_bytes_in_every_process() -> None:
    """A re-run's warm-up file must match the served one byte for byte, or the Pusher
    pushes the same model again; map order follows the process's string hashing."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", SYNTHESIZE],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.split()[-1]
        for seed in ("1", "2")
    }
    assert len(digests) == 1
