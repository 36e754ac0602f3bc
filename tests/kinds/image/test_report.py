"""The image kind's report section: each heat map inline, captioned with its true label
and the probability the served model gives."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image

from aet.kinds.image.report import heat_map_section
from aet.report.run_record import RunRecord


def test_each_heat_map_is_inline_with_its_label_and_probability(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png, format="PNG")
    (tmp_path / "00-pneumonia.png").write_bytes(png.getvalue())
    images = [
        {"file": "00-pneumonia.png", "label": "pneumonia", "probability": {"pneumonia": 0.8125}}
    ]
    summary = {"heat_maps": {"dir": str(tmp_path), "images": images}}
    (section,) = heat_map_section(RunRecord(run_dir=tmp_path, summary=summary, config=None))
    assert f"data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}" in section.html
    assert "true: <b>pneumonia</b>" in section.html and "P(pneumonia) = 0.812" in section.html
    assert str(tmp_path) not in section.html  # the page carries the pixels, not the path


def test_no_heat_maps_no_section(tmp_path: Path) -> None:
    assert heat_map_section(RunRecord(run_dir=tmp_path, summary={}, config=None)) == []


def _png(width: int, height: int, grey: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), grey).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_train_split(folder: Path, images: list[tuple[str, int, int]]) -> None:
    """Ingested examples, as ingestion writes them: (label, width, height) each."""
    import tensorflow as tf

    from aet.kinds.image.ingestion import ImageFile, to_example
    from aet.kinds.image.limits import DecodedImage

    split = folder / "Split-train"
    split.mkdir(parents=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(split / "data.tfrecord.gz"), options) as writer:
        for index, (label, width, height) in enumerate(images):
            data = _png(width, height, 40 * index % 255)
            image = ImageFile(f"{index}.png", label, "train", data, len(data))
            writer.write(
                to_example(image, DecodedImage(height, width, 1, 0.5, 0.1)).SerializeToString()
            )


def test_the_images_section_shows_a_few_of_each_class_and_their_sizes(tmp_path: Path) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from aet.kinds.image.report import SAMPLES_PER_CLASS, sample_section
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging", [], default_data=True)
    normal, pneumonia = config.features.label.classes
    _write_train_split(tmp_path / "examples", [(normal, 28, 28)] * 3 + [(pneumonia, 40, 30)] * 8)
    record = RunRecord(
        run_dir=tmp_path,
        summary={"examples_dir": str(tmp_path / "examples")},
        config=config,
        statistics={"train": statistics_pb2.DatasetFeatureStatistics()},
    )
    (section,) = sample_section(record)
    assert section.after == "data"
    grids = dict(re.findall(r'data-samples="([^"]+)">(.*?)</div>', section.html, re.S))
    assert grids[normal].count("<img") == 3
    assert grids[pneumonia].count("<img") == SAMPLES_PER_CLASS  # 8 read, 6 shown
    thumbnail = re.search(r'src="data:image/png;base64,([^"]+)"', grids[pneumonia]).group(1)
    with Image.open(io.BytesIO(base64.b64decode(thumbnail))) as image:
        assert image.size == (96, 72)  # 40x30 scaled to 96 px on its long side
    assert "28x28: 3" in section.html and "40x30: 8" in section.html
    assert "image sizes (11 images)" in section.html


def test_no_ingested_images_no_images_section(tmp_path: Path) -> None:
    from aet.kinds.image.report import sample_section
    from aet.pipelines.domains import load_domain

    config = load_domain("medical_imaging", [], default_data=True)
    summary = {"examples_dir": str(tmp_path / "missing")}
    assert sample_section(RunRecord(run_dir=tmp_path, summary=summary, config=config)) == []
