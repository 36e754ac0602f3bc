"""Image input for a run: a MedMNIST .npz or an image folder ingested once into the
splits the config names, reused while neither the files nor the settings change."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aet.kinds.image.ingestion import IngestionError
from aet.kinds.image.input import ingest_images
from aet.pipelines.domains import load_domain

SPLIT_SIZES = {"train": 6, "val": 3, "test": 2}


def _write_npz(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in SPLIT_SIZES.items():
        arrays[f"{split}_images"] = rng.integers(0, 255, (count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def test_an_npz_is_ingested_into_the_pipeline_splits_then_reused(tmp_path: Path) -> None:
    config = load_domain("medical_imaging")
    npz = _write_npz(tmp_path / "tiny.npz")

    first = ingest_images(config, str(npz), str(tmp_path / "run"))
    assert not first.reused
    assert first.report.examples == {"train": 6, "eval": 3, "test": 2}  # val -> eval
    # Label index i is classes[i]; the labels alternate 0, 1, 0, ...
    assert first.report.labels == {
        "train": {"normal": 3, "pneumonia": 3},
        "eval": {"normal": 2, "pneumonia": 1},
        "test": {"normal": 1, "pneumonia": 1},
    }
    assert first.describe()[1] == "  train 6 (normal 3, pneumonia 3)"
    assert sorted(os.listdir(first.examples_dir)) == [
        ".report",
        "Split-eval",
        "Split-test",
        "Split-train",
        "ingestion_report.json",
    ]
    again = ingest_images(config, str(npz), str(tmp_path / "run"))
    assert again.reused and again.examples_dir == first.examples_dir
    assert again.report == first.report
    assert "reused" in again.describe()[0]

    _write_npz(npz, seed=1)  # new content: a new ingestion, the old one untouched
    os.utime(npz, ns=(1, 1))
    changed = ingest_images(config, str(npz), str(tmp_path / "run"))
    assert not changed.reused and changed.examples_dir != first.examples_dir
    assert Path(first.examples_dir, "ingestion_report.json").is_file()


def test_an_interrupted_ingestion_is_started_again(tmp_path: Path) -> None:
    config = load_domain("medical_imaging")
    npz = _write_npz(tmp_path / "tiny.npz")
    done = ingest_images(config, str(npz), str(tmp_path / "run"))
    Path(done.examples_dir, "ingestion_report.json").unlink()  # as if killed before the end

    redone = ingest_images(config, str(npz), str(tmp_path / "run"))
    assert not redone.reused and redone.report.examples == done.report.examples


def test_a_split_left_empty_fails_naming_it_and_leaves_nothing(tmp_path: Path) -> None:
    config = load_domain("medical_imaging")
    folder = tmp_path / "xrays"
    (folder / "normal").mkdir(parents=True)
    npz_pixels = np.zeros((20, 20), np.uint8)
    from PIL import Image

    Image.fromarray(npz_pixels).save(folder / "normal" / "NORMAL-1.png")

    with pytest.raises(IngestionError, match=r"no images fall in the split\(s\)") as caught:
        ingest_images(config, str(folder), str(tmp_path / "run"))
    assert str(folder) in str(caught.value)
    assert not any((tmp_path / "run" / "ingested").iterdir())
