"""What a run left behind, read once for the report: its summary (run_summary.json),
the Trainer's per-epoch history, and the statistics, schema and anomalies TFX wrote.

The statistics and anomalies are TFDV's own protos, read as they are: the report draws
TFDV's histograms and top values instead of computing them again. A run folder is local
(`aet run --output`), read without TensorFlow: `aet report` starts in a second. The
serving check reads a pipeline's statistics here too, through tf.io.gfile where remote.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from aet.components.files import is_remote
from aet.config import DomainConfig

SUMMARY_FILE = "run_summary.json"  # written by pipelines.summary
SPAN_HISTORY = "spans/history.jsonl"  # written by pipelines.spans, one line per span run


class RunNotFound(FileNotFoundError):
    """The folder holds no run summary: no `aet run` finished writing there."""


@dataclass
class RunRecord:
    run_dir: Path
    summary: dict
    config: DomainConfig | None
    history: dict | None = None
    statistics: dict[str, statistics_pb2.DatasetFeatureStatistics] = field(default_factory=dict)
    anomalies: dict[str, anomalies_pb2.Anomalies] = field(default_factory=dict)
    schema: schema_pb2.Schema | None = None
    spans: list[dict] = field(default_factory=list)  # the output's span history, oldest first

    @property
    def name(self) -> str:
        return f"{self.summary.get('domain', '?')} ({self.run_dir.name})"


def read_file(path: str) -> bytes | None:
    """A file's bytes, local or remote (tf.io.gfile), or None where it is not."""
    if is_remote(path):  # an artifact of a pipeline on Kubeflow, read by its serving check
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb").read() if tf.io.gfile.exists(path) else None
    return Path(path).read_bytes() if path and os.path.isfile(path) else None


def _listing(folder: str) -> list[str]:
    if is_remote(folder):
        import tensorflow as tf

        if not tf.io.gfile.isdir(folder):
            return []
        return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(folder))
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _splits(folder: str | None, file_name: str) -> dict[str, bytes]:
    """`Split-<name>/<file_name>` under an artifact folder, by split name."""
    if not folder:
        return {}
    found = {}
    for name in _listing(folder):
        if name.startswith("Split-"):
            content = read_file(os.path.join(folder, name, file_name))
            if content is not None:
                found[name.removeprefix("Split-")] = content
    return found


def read_statistics(folder: str | None) -> dict[str, statistics_pb2.DatasetFeatureStatistics]:
    """StatisticsGen's statistics of each split, by split name."""
    found = {}
    for split, content in _splits(folder, "FeatureStats.pb").items():
        statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(content)
        if statistics.datasets:
            found[split] = statistics.datasets[0]
    return found


def load_run(run_dir: str | Path) -> RunRecord:
    """Everything the report shows about the run in `run_dir` (an `aet run --output`)."""
    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY_FILE
    if not summary_path.is_file():
        raise RunNotFound(f"{run_dir} holds no {SUMMARY_FILE}: is it an `aet run --output`?")
    summary = json.loads(summary_path.read_text())
    try:
        config = DomainConfig.parse_obj(summary["config"]) if summary.get("config") else None
    except ValueError:  # written by an older aet: the report shows what needs no config
        config = None
    record = RunRecord(run_dir=run_dir, summary=summary, config=config)
    history = read_file((summary.get("training") or {}).get("history_file", ""))
    if history is not None:
        record.history = json.loads(history)
    record.statistics = read_statistics(summary.get("statistics_dir"))
    for split, content in _splits(summary.get("anomalies_dir"), "SchemaDiff.pb").items():
        record.anomalies[split] = anomalies_pb2.Anomalies.FromString(content)
    schema_dir = summary.get("schema_dir")
    schema = read_file(os.path.join(schema_dir, "schema.pbtxt")) if schema_dir else None
    if schema is not None:
        record.schema = text_format.Parse(schema.decode(), schema_pb2.Schema())
    history_path = run_dir / SPAN_HISTORY
    if history_path.is_file():
        lines = history_path.read_text().splitlines()
        record.spans = [json.loads(line) for line in lines if line.strip()]
    return record
