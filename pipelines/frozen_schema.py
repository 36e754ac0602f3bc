"""The schema an output's later spans are validated against, for a domain that curates
none: the schema SchemaGen inferred on the output's first pushed run, frozen.

A schema inferred from each run's own data fits that data by construction, so the
anomaly gate of such a domain can never fire. Frozen from the run whose model is
served, it says what that model was trained on, and ExampleValidator holds every later
span to it: the same features, types, shapes and presence, and the same categories. A
category unseen then may take up to UNSEEN_SHARE of a span's values (the model reads
it as out-of-vocabulary); more is an anomaly, as is any new class of the label, which
no trained model can answer. The file is the team's to edit (or to copy into the
domain as `data.schema_file`, curated from then on).
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from aet.components.files import write_atomically
from aet.config import DomainConfig

FROZEN_SCHEMA = Path("schema") / "frozen.pbtxt"  # under the output
SCHEMA_FILE = "schema.pbtxt"  # in SchemaGen's output
UNSEEN_SHARE = 0.01


def frozen_schema(output: Path, config: DomainConfig) -> str | None:
    """The output's frozen schema, for a domain with no curated one; else None."""
    path = output / FROZEN_SCHEMA
    return os.fspath(path) if not config.data.schema_file and path.is_file() else None


def relaxed(schema: schema_pb2.Schema, label: str | None) -> schema_pb2.Schema:
    """`schema` with each input's category domain open to UNSEEN_SHARE of new values."""
    frozen = schema_pb2.Schema()
    frozen.CopyFrom(schema)
    for feature in frozen.feature:
        categorical = feature.HasField("domain") or feature.HasField("string_domain")
        if categorical and feature.name != label:
            feature.distribution_constraints.min_domain_mass = 1 - UNSEEN_SHARE
    return frozen


def freeze_schema(
    output: Path, config: DomainConfig, schema_dir: str | None, span: int
) -> str | None:
    """Freezes the schema of span `span`'s pushed run (SchemaGen's, in `schema_dir`)
    unless the domain curates one or the output froze one already: the path written,
    else None."""
    path = output / FROZEN_SCHEMA
    if config.data.schema_file or path.exists() or not schema_dir:
        return None
    inferred = tfdv.load_schema_text(os.path.join(schema_dir, SCHEMA_FILE))
    label = config.features.label.name if config.features.label else None
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Inferred by SchemaGen on span {span}, whose model was pushed, and frozen: later\n"
        f"# spans of this output are validated against it. Categories: up to {UNSEEN_SHARE:.0%}\n"
        "# of a span's values may be new (the label: none). Edit it to curate.\n"
    )
    write_atomically(
        os.fspath(path), header + text_format.MessageToString(relaxed(inferred, label))
    )
    return os.fspath(path)
