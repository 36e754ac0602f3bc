"""The image kind's report section: each heat map inline, captioned with its true label
and the probability the served model gives."""

from __future__ import annotations

import base64
import io
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
