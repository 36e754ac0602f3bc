"""The image kind's section of the run report: the Grad-CAM heat maps, each captioned
with its true label and the probability the served model gives it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from aet.report.rendering import render_fragment
from aet.report.run_record import RunRecord
from aet.report.sections import Section

HEAT_MAPS = Path(__file__).with_name("heat_maps.html.j2")


def heat_map_section(record: RunRecord) -> list[Section]:
    heat_maps = record.summary.get("heat_maps") or {}
    images = []
    for image in heat_maps.get("images", []):
        path = os.path.join(heat_maps["dir"], image["file"])
        if os.path.exists(path):
            with open(path, "rb") as handle:
                png = base64.b64encode(handle.read()).decode()
            images.append({**image, "png": png})
    if not images:
        return []
    html = render_fragment(HEAT_MAPS.read_text(), images=images)
    return [Section("heat-maps", "Heat maps", html)]
