"""The ingestion report an ExampleGen that ingests writes beside its splits, in its
Examples folder (kinds/ingested.py): what it read, wrote and refused. The Evaluator
sizes metrics by it (components/evaluator.py) and a run's summary shows it."""

from __future__ import annotations

import json

import tensorflow as tf

REPORT_FILE = "ingestion_report.json"


def write_report(examples_dir: str, report: dict) -> None:
    with tf.io.gfile.GFile(f"{examples_dir}/{REPORT_FILE}", "w") as handle:
        handle.write(json.dumps(report))


def report_if_any(examples_dir: str) -> dict | None:
    """The ingestion report in an Examples folder, or None (CSV and Parquet have none)."""
    path = f"{examples_dir}/{REPORT_FILE}"
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as report:
        return json.load(report)
