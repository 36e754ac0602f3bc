"""Image ingestion: folders (labels from sub-folders or file-name rules) and MedMNIST
`.npz` files become per-split TFRecords of tf.Example; corrupt and wrong-type files are
reported by name and fail the run only beyond the allowed share."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aet.config import ImageConfig
from aet.kinds.image.ingestion import (
    IngestionError,
    folder_images,
    ingest,
    npz_images,
    split_of,
)
from tests.image_bombs import png_declaring, real_png

SHARES = {"train": 0.5, "eval": 0.5}


def _image_bytes(size: tuple[int, int], mode: str, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=128 if mode == "L" else (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "xrays"
    (root / "normal").mkdir(parents=True)
    (root / "pneumonia").mkdir()
    (root / "normal" / "a.png").write_bytes(_image_bytes((40, 30), "L", "PNG"))
    (root / "normal" / "b.jpg").write_bytes(_image_bytes((64, 48), "RGB", "JPEG"))
    (root / "pneumonia" / "c.jpeg").write_bytes(_image_bytes((20, 20), "L", "JPEG"))
    # e.png hashes into the eval split, a.png to d.png into train: both splits get images.
    (root / "pneumonia" / "e.png").write_bytes(_image_bytes((33, 17), "RGB", "PNG"))
    return root


def _examples(output: Path, split: str) -> list[dict]:
    files = tf.io.gfile.glob(str(output / f"Split-{split}" / "*"))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append(
            {
                "label": feature["label"].bytes_list.value[0].decode(),
                "source": feature["source"].bytes_list.value[0].decode(),
                "shape": tuple(
                    feature[k].int64_list.value[0] for k in ("height", "width", "channels")
                ),
                "image": feature["image"].bytes_list.value[0],
                "measures": tuple(
                    feature[k].float_list.value[0] for k in ("brightness", "contrast")
                ),
            }
        )
    return rows


def test_a_folder_becomes_labelled_examples_in_stable_splits(folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "examples"
    report = ingest(folder_images(folder, SHARES), str(output), list(SHARES))
    rows = _examples(output, "train") + _examples(output, "eval")
    assert sum(report.examples.values()) == len(rows) == 4 and report.bad == []
    by_name = {Path(row["source"]).name: row for row in rows}
    assert {name: row["label"] for name, row in by_name.items()} == {
        "a.png": "normal",
        "b.jpg": "normal",
        "c.jpeg": "pneumonia",
        "e.png": "pneumonia",
    }
    assert by_name["a.png"]["shape"] == (30, 40, 1)  # height, width, channels
    assert by_name["b.jpg"]["shape"] == (48, 64, 3)
    assert by_name["a.png"]["image"] == (folder / "normal" / "a.png").read_bytes()
    # Grey levels' mean and spread in [0, 1]: a flat grey of 128, a flat green.
    assert by_name["a.png"]["measures"] == pytest.approx((128 / 255, 0.0), abs=1e-6)
    green = (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255  # Pillow's grey conversion
    assert by_name["e.png"]["measures"] == pytest.approx((green, 0.0), abs=0.01)
    for split in SHARES:
        for row in _examples(output, split):
            relative = str(Path(row["source"]).relative_to(folder))
            assert split_of(relative, SHARES) == split


def test_file_name_rules_label_a_flat_folder(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    (root / "NORMAL2-IM-1.jpeg").write_bytes(_image_bytes((8, 8), "L", "JPEG"))
    (root / "person1_bacteria_2.jpeg").write_bytes(_image_bytes((8, 8), "L", "JPEG"))
    rules = [(r"^NORMAL", "normal"), (r"bacteria|virus", "pneumonia")]
    labels = {Path(i.source).name: i.label for i in folder_images(root, SHARES, rules)}
    assert labels == {"NORMAL2-IM-1.jpeg": "normal", "person1_bacteria_2.jpeg": "pneumonia"}
    (root / "unknown.jpeg").write_bytes(_image_bytes((8, 8), "L", "JPEG"))
    with pytest.raises(IngestionError, match=r"unknown\.jpeg: cannot tell its class"):
        list(folder_images(root, SHARES, rules))


def test_corrupt_and_wrong_type_files_are_named_and_counted(folder: Path, tmp_path: Path) -> None:
    (folder / "normal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    (folder / "pneumonia" / "notes.txt").write_text("not an image")
    report = ingest(
        folder_images(folder, SHARES), str(tmp_path / "ok"), list(SHARES), max_bad_share=0.5
    )
    assert sum(report.examples.values()) == 4
    bad = dict(report.bad)
    assert set(bad) == {
        str(folder / "normal" / "broken.png"),
        str(folder / "pneumonia" / "notes.txt"),
    }
    assert "cannot be decoded" in bad[str(folder / "normal" / "broken.png")]
    assert "not a PNG or JPEG" in bad[str(folder / "pneumonia" / "notes.txt")]

    with pytest.raises(IngestionError) as caught:
        ingest(
            folder_images(folder, SHARES), str(tmp_path / "strict"), list(SHARES), max_bad_share=0.2
        )
    message = str(caught.value)
    assert message.startswith("2 of 6 images are bad")
    assert "broken.png" in message and "notes.txt" in message


def test_image_bombs_are_named_with_their_limit_and_never_decoded(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "normal" / "bomb.png").write_bytes(png_declaring(20000, 20000))
    real_png(folder / "normal" / "huge.png", 12000, 12000)
    (folder / "pneumonia" / "empty.png").write_bytes(b"")
    (folder / "pneumonia" / "heavy.jpeg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 250_000)
    limits = ImageConfig(max_bytes=200_000)
    files = {Path(i.source).name: i for i in folder_images(folder, SHARES, max_bytes=200_000)}
    assert files["heavy.jpeg"].data == b"" and files["heavy.jpeg"].size == 250_003  # not read

    with pytest.raises(IngestionError) as caught:
        ingest(files.values(), str(tmp_path / "out"), list(SHARES), limits=limits)

    reasons = {
        "normal/bomb.png": "declares more pixels than Pillow will open",
        "normal/huge.png": "declares 12000x12000",
        "pneumonia/empty.png": "an empty file (0 bytes)",
        "pneumonia/heavy.jpeg": "250003 bytes, over features.image.max_bytes",
    }
    message = str(caught.value)
    assert message.startswith("4 of 8 images are bad")
    for name, reason in reasons.items():
        assert f"{folder / name}: {reason}" in message


def test_a_medmnist_npz_keeps_its_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 5), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, size=(count, 1))
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    output = tmp_path / "examples"
    report = ingest(
        npz_images(path, ["normal", "pneumonia"]), str(output), ["train", "val", "test"]
    )
    assert report.examples == {"train": 5, "val": 2, "test": 3}
    first = next(row for row in _examples(output, "train") if row["source"] == f"{path}:train:0")
    decoded = np.array(Image.open(io.BytesIO(first["image"])))
    np.testing.assert_array_equal(decoded, arrays["train_images"][0])
    assert first["label"] == ["normal", "pneumonia"][int(arrays["train_labels"][0, 0])]


def test_an_npz_label_outside_the_classes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.array([[0], [3]]))
    with pytest.raises(IngestionError, match=r"train_labels\[1\] is 3"):
        list(npz_images(path, ["normal", "pneumonia"]))


def test_ingestion_refuses_a_folder_that_is_not_empty(folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "used"
    output.mkdir()
    (output / "old.tfrecord.gz").write_bytes(b"")
    with pytest.raises(IngestionError, match="not empty"):
        ingest(folder_images(folder, SHARES), str(output), list(SHARES))
