"""Image ingestion inside the pipeline: ImageExampleGen's executor turns folders
(labels from sub-folders or file-name rules) and MedMNIST `.npz` files into per-split
tf.Examples; corrupt and wrong-type files are reported by name and fail the component
only beyond the allowed share, after writing nothing a later component reads."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aet.kinds.image.example_gen import image_example_gen
from aet.kinds.image.ingestion import IngestionError, listed_images, split_of
from aet.pipelines.domains import load_domain
from tests.image_bombs import png_declaring, real_png
from tests.kinds.ingesting import run_executor

SHARES = {"train": 0.5, "eval": 0.5}
SUB_FOLDERS = ["data.label_rules=[]", "data.splits={train: 0.5, eval: 0.5}"]


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


def ingest(data: Path, output: Path, overrides: list[str] = SUB_FOLDERS) -> dict:
    """ImageExampleGen's executor run on `data` for the medical_imaging domain with
    `overrides`; the ingestion report it wrote."""
    return run_executor(
        image_example_gen(load_domain("medical_imaging", overrides), str(data)), output
    )


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
    report = ingest(folder, output)
    rows = _examples(output, "train") + _examples(output, "eval")
    assert sum(report["examples"].values()) == len(rows) == 4 and report["bad"] == []
    by_name = {Path(row["source"]).name: row for row in rows}
    assert {name: row["label"] for name, row in by_name.items()} == {
        "a.png": "normal",
        "b.jpg": "normal",
        "c.jpeg": "pneumonia",
        "e.png": "pneumonia",
    }
    assert report["labels"]["eval"] == {"pneumonia": 1}
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
    labels = {Path(i.path).name: i.label for i in listed_images(str(root), SHARES, rules)}
    assert labels == {"NORMAL2-IM-1.jpeg": "normal", "person1_bacteria_2.jpeg": "pneumonia"}
    (root / "unknown.jpeg").write_bytes(_image_bytes((8, 8), "L", "JPEG"))
    with pytest.raises(IngestionError, match=r"unknown\.jpeg: cannot tell its class"):
        listed_images(str(root), SHARES, rules)


def test_a_file_the_layout_does_not_place_is_refused_by_name(folder: Path) -> None:
    (folder / "stray.png").write_bytes(_image_bytes((8, 8), "L", "PNG"))
    with pytest.raises(IngestionError, match=r"stray\.png: cannot tell its class"):
        listed_images(str(folder), SHARES)
    (folder / "stray.png").unlink()
    (folder / "normal" / "old").mkdir()
    (folder / "normal" / "old" / "f.png").write_bytes(_image_bytes((8, 8), "L", "PNG"))
    with pytest.raises(IngestionError, match=r"old/f\.png: too deep"):
        listed_images(str(folder), SHARES)


def test_corrupt_and_wrong_type_files_are_named_and_counted(folder: Path, tmp_path: Path) -> None:
    (folder / "normal" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    (folder / "pneumonia" / "notes.txt").write_text("not an image")
    report = ingest(folder, tmp_path / "ok", [*SUB_FOLDERS, "data.max_bad_share=0.5"])
    assert sum(report["examples"].values()) == 4
    bad = dict(report["bad"])
    assert set(bad) == {
        str(folder / "normal" / "broken.png"),
        str(folder / "pneumonia" / "notes.txt"),
    }
    assert "cannot be decoded" in bad[str(folder / "normal" / "broken.png")]
    assert "not a PNG or JPEG" in bad[str(folder / "pneumonia" / "notes.txt")]

    with pytest.raises(IngestionError) as caught:
        ingest(folder, tmp_path / "strict", [*SUB_FOLDERS, "data.max_bad_share=0.2"])
    message = str(caught.value)
    assert message.startswith(f"{folder}: 2 of 6 images are bad")
    assert "broken.png" in message and "notes.txt" in message


def test_image_bombs_are_named_with_their_limit_and_never_decoded(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "normal" / "bomb.png").write_bytes(png_declaring(20000, 20000))
    real_png(folder / "normal" / "huge.png", 12000, 12000)
    (folder / "pneumonia" / "empty.png").write_bytes(b"")
    (folder / "pneumonia" / "heavy.jpeg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 250_000)

    with pytest.raises(IngestionError) as caught:
        ingest(folder, tmp_path / "out", [*SUB_FOLDERS, "features.image.max_bytes=200000"])

    reasons = {
        "normal/bomb.png": "declares more pixels than Pillow will open",
        "normal/huge.png": "declares 12000x12000",
        "pneumonia/empty.png": "an empty file (0 bytes)",
        "pneumonia/heavy.jpeg": "250003 bytes, over features.image.max_bytes",
    }
    message = str(caught.value)
    assert "4 of 8 images are bad" in message
    for name, reason in reasons.items():
        assert f"{folder / name}: {reason}" in message


def _npz(path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in sizes.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 2).reshape(-1, 1)
    np.savez(path, **arrays)
    return arrays


def test_a_medmnist_npz_keeps_its_splits(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    arrays = _npz(path, {"train": 5, "val": 2, "test": 3})
    output = tmp_path / "examples"
    report = ingest(path, output, [])
    assert report["examples"] == {"train": 5, "eval": 2, "test": 3}  # val -> eval
    # Label index i is classes[i]; the labels alternate 0, 1, 0, ...
    assert report["labels"]["train"] == {"normal": 3, "pneumonia": 2}
    first = next(row for row in _examples(output, "train") if row["source"] == f"{path}:train:0")
    decoded = np.array(Image.open(io.BytesIO(first["image"])))
    np.testing.assert_array_equal(decoded, arrays["train_images"][0])
    assert first["label"] == "normal"


def test_an_npz_without_a_configured_split_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "two.npz"
    _npz(path, {"train": 2, "test": 2})
    with pytest.raises(IngestionError, match=r"no 'val_images' array for the split 'eval'"):
        ingest(path, tmp_path / "out", [])


def test_an_npz_label_outside_the_classes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        **{f"{split}_images": np.zeros((2, 4, 4), np.uint8) for split in ("train", "val", "test")},
        train_labels=np.array([[0], [3]]),
        val_labels=np.array([[0], [1]]),
        test_labels=np.array([[0], [1]]),
    )
    with pytest.raises(Exception, match=r"train_labels\[1\] is 3"):
        ingest(path, tmp_path / "out", [])
