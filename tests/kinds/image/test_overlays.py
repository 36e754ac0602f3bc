"""Image explanations drawn (kinds/image/overlays.py): the per-class mean heat maps of a
run's global view, drawn only where enough images make an average."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from aet.kinds.image.overlays import class_average_maps
from aet.kinds.image.report import class_map_section
from aet.pipelines.domains import load_domain
from aet.report.model_card import MIN_AVERAGED
from aet.report.run_record import RunRecord


def _record(label: str, grey: int) -> bytes:
    png = io.BytesIO()
    Image.new("L", (28, 28), grey).save(png, format="PNG")
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png.getvalue()])),
        "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_each_class_gets_its_mean_map_and_an_image_only_from_enough_images(tmp_path: Path):
    config = load_domain("medical_imaging")
    labels = ["normal"] * MIN_AVERAGED + ["pneumonia"] * (MIN_AVERAGED - 1)
    records = [_record(label, 20 * (i % 5)) for i, label in enumerate(labels)]
    heat = np.random.default_rng(0).random((len(labels), 4, 4)).astype(np.float32)
    summary = class_average_maps(config, records, {"heat_map": heat}, str(tmp_path))

    normal, pneumonia = summary["classes"]
    assert (normal["label"], normal["examples"]) == ("normal", MIN_AVERAGED)
    np.testing.assert_allclose(normal["mean_heat_map"], heat[:MIN_AVERAGED].mean(0), atol=1e-3)
    np.testing.assert_allclose(pneumonia["mean_heat_map"], heat[MIN_AVERAGED:].mean(0), atol=1e-3)
    assert Image.open(tmp_path / normal["file"]).size == (224, 224)
    assert "file" not in pneumonia  # 9 images: an average could show one of them

    record = RunRecord(
        run_dir=tmp_path,
        summary={"explanations": {"dir": str(tmp_path), "examples": len(labels), **summary}},
        config=config,
    )
    (section,) = class_map_section(record)
    assert section.html.count("<img") == 1 and "fewer than 10 images: not drawn" in section.html
    assert str(tmp_path) not in section.html
