"""Interaction-log input for a run: a log of (user, item, rating, time) is turned into
per-user, leave-last-out history examples (a Beam job, kinds/interactions/histories.py)
in the per-split TFRecords ImportExampleGen reads, in a folder reused while the log and
settings are unchanged (kinds/ingested.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from aet.config import DomainConfig
from aet.config.contract import LOG_SUFFIXES
from aet.kinds.ingested import completed_report, ingestion_folder, read_report, write_report
from aet.kinds.interactions.histories import (
    HistoryReport,
    InteractionLogError,
    build_histories,
    read_interactions,
)


@dataclass(frozen=True)
class IngestedHistories:
    examples_dir: str  # Split-<name>/*.tfrecord.gz, for ImportExampleGen
    report: HistoryReport
    reused: bool

    def describe(self) -> list[str]:
        report = self.report
        return [
            "histories" + (" (reused from an earlier ingestion)" if self.reused else "") + ":",
            f"  {report.interactions} interactions, {report.catalogue} items in training",
            "  users per split: " + ", ".join(f"{s} {n}" for s, n in report.users.items()),
            f"  {report.skipped_users} user(s) skipped: fewer interactions than the minimum",
        ]


def catalogue_size(examples_dir: str) -> int:
    """Distinct training items of the ingestion a pipeline reads: the model's vocabulary."""
    return int(read_report(examples_dir)["catalogue"])


def log_file(path: Path) -> Path:
    """The interaction log at `path`: the file itself, or the one log a folder holds (a
    span folder, `span-01/`); ValueError naming what is wrong otherwise."""
    if path.is_file() and path.suffix in LOG_SUFFIXES:
        return path
    if path.is_dir():
        logs = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in LOG_SUFFIXES)
        if len(logs) == 1:
            return logs[0]
        found = f"{len(logs)} ({', '.join(p.name for p in logs)})" if logs else "none"
        raise ValueError(
            f"{path}: a folder of interactions holds one {'/'.join(LOG_SUFFIXES)} log; "
            f"found {found}"
        )
    raise ValueError(
        f"{path}: not an interaction log; give one {'/'.join(LOG_SUFFIXES)} file "
        "with the columns named in data.columns"
    )


def ingest_histories(
    config: DomainConfig, data_path: str, output_root: str, beam_pipeline_args: Sequence[str] = ()
) -> IngestedHistories:
    """Builds the history examples of the log at `data_path` (a file, or a folder that
    holds one) under `<output_root>/ingested/<key>`, or reuses a complete earlier
    ingestion."""
    data_path = os.fspath(log_file(Path(data_path)))
    settings = {
        "columns": config.data.columns.dict(),
        "min_interactions": config.data.min_interactions,
    }
    target = ingestion_folder(output_root, Path(data_path), settings)
    saved = completed_report(target)
    if saved is not None:
        return IngestedHistories(os.fspath(target), HistoryReport(**saved), reused=True)
    try:
        report = build_histories(
            read_interactions(data_path, config.data.columns),
            os.fspath(target),
            config.data.min_interactions,
            beam_pipeline_args,
        )
    except InteractionLogError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    write_report(target, asdict(report))
    return IngestedHistories(os.fspath(target), report, reused=False)
