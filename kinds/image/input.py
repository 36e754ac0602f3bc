"""Image input for a run: an image folder or a MedMNIST `.npz` is ingested (a Beam job,
kinds/image/ingestion.py) into the per-split TFRecords ImportExampleGen reads, in a
folder reused while the files and settings are unchanged (kinds/ingested.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from aet.config import DomainConfig
from aet.kinds.image.ingestion import (
    PIXEL_MEASURES,
    IngestionError,
    IngestionReport,
    folder_images,
    ingest,
    npz_images,
)
from aet.kinds.ingested import completed_report, ingestion_folder, write_report

# MedMNIST's split names -> the pipeline's.
NPZ_SPLITS = {"train": "train", "val": "eval", "test": "test"}


@dataclass(frozen=True)
class IngestedImages:
    examples_dir: str  # Split-<name>/*.tfrecord.gz, for ImportExampleGen
    report: IngestionReport
    reused: bool

    def describe(self) -> list[str]:
        lines = ["images" + (" (reused from an earlier ingestion)" if self.reused else "") + ":"]
        for split, count in self.report.examples.items():
            classes = ", ".join(f"{c} {n}" for c, n in self.report.labels.get(split, {}).items())
            lines.append(f"  {split} {count} ({classes})")
        if self.report.bad:
            lines.append(f"{len(self.report.bad)} bad file(s) skipped, each named below:")
            lines += [f"  {source}: {reason}" for source, reason in self.report.bad]
        return lines


def ingest_images(
    config: DomainConfig, data_path: str, output_root: str, beam_pipeline_args: Sequence[str] = ()
) -> IngestedImages:
    """Ingests `data_path` (a folder or a `.npz`) under `<output_root>/ingested/<key>`,
    or reuses a complete earlier ingestion of the same files and settings."""
    source = Path(data_path)
    settings = {
        "splits": config.data.splits,
        "label_rules": [rule.dict() for rule in config.data.label_rules],
        "classes": config.features.label.classes,
        "max_bad_share": config.data.max_bad_share,
        "max_pixels": config.features.image.max_pixels,
        "max_bytes": config.features.image.max_bytes,
        "measures": list(PIXEL_MEASURES),  # an ingestion from before they were measured
    }
    target = ingestion_folder(output_root, source, settings)
    saved = completed_report(target)
    if saved is not None:
        report = IngestionReport(
            saved["examples"], [tuple(bad) for bad in saved["bad"]], saved["labels"]
        )
        return IngestedImages(os.fspath(target), report, reused=True)
    if source.suffix == ".npz":
        images = npz_images(source, config.features.label.classes, NPZ_SPLITS)
    else:
        rules = [(rule.pattern, rule.label) for rule in config.data.label_rules] or None
        images = folder_images(source, config.data.splits, rules, config.features.image.max_bytes)
    try:
        report = ingest(
            images,
            os.fspath(target),
            list(config.data.splits),
            config.data.max_bad_share,
            beam_pipeline_args,
            config.features.image,
        )
    except IngestionError as error:
        shutil.rmtree(target, ignore_errors=True)
        raise IngestionError(f"{data_path}: {error}") from error
    write_report(target, asdict(report))
    return IngestedImages(os.fspath(target), report, reused=False)
