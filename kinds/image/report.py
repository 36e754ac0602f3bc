"""The image kind's sections of the run report: what the training images look like (a
few per class, and their sizes) and the Grad-CAM heat maps, each captioned with its
true label and the probability the served model gives it."""

from __future__ import annotations

import base64
import io
import os
from collections import Counter
from pathlib import Path

import tensorflow as tf
from PIL import Image

from aet.components.split_records import split_records
from aet.config import DomainConfig
from aet.report import plots
from aet.report.model_card import MIN_AVERAGED
from aet.report.rendering import render_fragment
from aet.report.run_record import RunRecord
from aet.report.sections import Section

HEAT_MAPS = Path(__file__).with_name("heat_maps.html.j2")
CLASS_MAPS = Path(__file__).with_name("class_maps.html.j2")
SAMPLES = Path(__file__).with_name("samples.html.j2")
SAMPLES_PER_CLASS = 6
# The images read for the grid and the size plot: the first of the training split, so
# that a large data set costs the report seconds, not a pass over every image.
MOST_SCANNED = 2000
THUMBNAIL_PX = 96
# What ingestion writes beside the image (kinds/image/ingestion.to_example).
SIZE_FEATURES = {
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
}


def _thumbnail(encoded: bytes) -> str:
    """A PNG at most THUMBNAIL_PX a side (small images scaled up without smoothing), as
    base64 for a data: URL."""
    with Image.open(io.BytesIO(encoded)) as image:
        image = image.convert("RGB" if image.mode not in ("L", "LA") else "L")
        scale = THUMBNAIL_PX / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
        buffer = io.BytesIO()
        image.resize(size, resample).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _scan(examples_dir: str, split: str, config: DomainConfig) -> tuple[dict, Counter, int]:
    """(the first SAMPLES_PER_CLASS images of each class as thumbnails, images per
    (width, height), images read) over the first MOST_SCANNED examples of `split`."""
    image_key, label_key = config.features.image.name, config.features.label.name
    spec = {
        **SIZE_FEATURES,
        image_key: tf.io.FixedLenFeature([], tf.string),
        label_key: tf.io.FixedLenFeature([], tf.string),
    }
    samples: dict[str, list[str]] = {name: [] for name in config.features.label.classes}
    sizes: Counter = Counter()
    scanned = 0
    records = split_records(examples_dir, split).take(MOST_SCANNED).batch(256)
    for batch in records.map(lambda records: tf.io.parse_example(records, spec)):
        widths, heights = batch["width"].numpy(), batch["height"].numpy()
        scanned += len(widths)
        sizes.update(zip(widths.tolist(), heights.tolist(), strict=True))
        for position, label in enumerate(batch[label_key].numpy()):
            shown = samples.setdefault(label.decode(), [])
            if len(shown) < SAMPLES_PER_CLASS:
                shown.append(_thumbnail(batch[image_key][position].numpy()))
    return samples, sizes, scanned


def sample_section(record: RunRecord) -> list[Section]:
    examples_dir, config = record.summary.get("examples_dir"), record.config
    if not examples_dir or config is None or not config.features.label:
        return []
    split = "train" if "train" in record.statistics else next(iter(record.statistics), "train")
    samples, sizes, scanned = _scan(examples_dir, split, config)
    if not scanned:
        return []
    html = render_fragment(
        SAMPLES.read_text(),
        samples=samples,
        split=split,
        scanned=scanned,
        most=MOST_SCANNED,
        sizes=plots.image_sizes(sizes),
        model_size=(config.features.image.width, config.features.image.height),
    )
    return [Section("images", "Images", html, after="data")]


def heat_map_section(record: RunRecord) -> list[Section]:
    heat_maps = record.summary.get("heat_maps") or {}
    images = []
    for image in heat_maps.get("images", []):
        png = _png(os.path.join(heat_maps["dir"], image["file"]))
        if png:
            images.append({**image, "png": png})
    if not images:
        return []
    html = render_fragment(HEAT_MAPS.read_text(), images=images)
    return [Section("heat-maps", "Heat maps", html, after="evaluation")]


def _png(path: str) -> str | None:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return base64.b64encode(handle.read()).decode()


def class_map_section(record: RunRecord) -> list[Section]:
    explanations = record.summary.get("explanations") or {}
    if not explanations.get("classes"):
        return []
    classes = [
        {**entry, "png": _png(os.path.join(explanations["dir"], entry["file"]))}
        if "file" in entry
        else entry
        for entry in explanations["classes"]
    ]
    html = render_fragment(
        CLASS_MAPS.read_text(), explanations=explanations, classes=classes, least=MIN_AVERAGED
    )
    return [Section("class-maps", "Where it looks, per class", html, after="evaluation")]
