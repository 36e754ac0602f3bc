"""What the kinds ingested before the pipeline (interaction logs; a plug-in kind may be
another) share: where a run's ingested examples live, when an earlier ingestion can be
reused, the ImportExampleGen that reads them, and the ingestion report (which
ImageExampleGen, ingesting inside the pipeline, also writes into its Examples).

Interaction logs are turned into per-split TFRecords by a Beam job before the pipeline
(kinds/interactions/input.py). The output
goes to `<output>/ingested/<key>`, keyed by the input files (names, sizes, modification
times) and the settings that shape the examples, and is reused when nothing changed, so
a re-run reads the same examples and TFX's cache holds for every component after it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import tensorflow as tf

from aet.components.split_records import SPLIT_FOLDER
from aet.config import DomainConfig

if TYPE_CHECKING:
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput

REPORT_FILE = "ingestion_report.json"  # written last: marks a complete ingestion


def ingestion_folder(output_root: str, data_path: Path, settings: dict) -> Path:
    """`<output_root>/ingested/<key>` for `data_path` (a file or a folder) and `settings`."""
    files = [data_path] if data_path.is_file() else sorted(data_path.rglob("*"))
    identity = {
        "data": str(data_path),
        "files": [
            (str(path.relative_to(data_path.parent)), path.stat().st_size, path.stat().st_mtime_ns)
            for path in files
            if path.is_file()
        ],
        **settings,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return Path(output_root) / "ingested" / key


def completed_report(folder: Path) -> dict | None:
    """The report of a complete ingestion in `folder`, or None; the remains of an
    interrupted one (no report) are removed so that it starts again."""
    report = folder / REPORT_FILE
    if report.is_file():
        return json.loads(report.read_text())
    if folder.exists():
        shutil.rmtree(folder)
    return None


def read_report(folder: str) -> dict:
    """The report of the ingestion whose examples a pipeline reads."""
    with tf.io.gfile.GFile(f"{folder}/{REPORT_FILE}") as report:
        return json.load(report)


def report_if_any(folder: str) -> dict | None:
    """The ingestion report in an Examples folder (an ExampleGen that ingests, such as
    ImageExampleGen, writes one beside its splits), or None."""
    return read_report(folder) if tf.io.gfile.exists(f"{folder}/{REPORT_FILE}") else None


def write_report(folder: Path, report: dict) -> None:
    """Written last and in one step: a folder with a report is a finished ingestion."""
    from aet.components.files import write_atomically

    write_atomically(str(folder / REPORT_FILE), json.dumps(report))


def ingested_example_gen(
    config: DomainConfig, examples_dir: str, span: SpanInput | None = None
) -> BaseComponent:
    """ImportExampleGen over the ingestion's splits (already split, nothing hashed); with
    `span`, over that span's folder (a link to its ingestion)."""
    from tfx.components import ImportExampleGen

    from aet.components.spans import example_input

    patterns = {name: f"{SPLIT_FOLDER.format(name)}/*" for name in config.data.splits}
    input_config, range_config = example_input(patterns, span)
    return ImportExampleGen(
        input_base=span.root if span is not None else examples_dir,
        input_config=input_config,
        range_config=range_config,
    )
