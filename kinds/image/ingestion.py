"""Image ingestion (issue 4, first part): a Beam job that turns an image folder or a
MedMNIST-style `.npz` into per-split TFRecord files of tf.Example, the layout TFX's
ImportExampleGen reads (`<output>/Split-<name>/*.tfrecord.gz`).

Each example holds the encoded image bytes (`image`, PNG or JPEG as found; arrays from
an `.npz` are PNG-encoded), the label (`label`, the class name), where it came from
(`source`: a file path, or `file.npz:split:index`), its original `height`, `width`
and `channels`, and its grey levels' mean and spread (`brightness`, `contrast`: what a
new span's drift check compares, so a change of scanner or exposure shows). Every
image is decoded once here, so a file that is corrupt or not an image is reported with
its name and reason and counted; the job fails only when the share of bad files
exceeds `max_bad_share`, and then names them. Nothing is dropped
silently: the report lists every bad file.

Labels for a folder come from the first sub-folder under it (`normal/x.png`), or from
the first rule whose regular expression matches the file name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
import numpy as np
import tensorflow as tf
from PIL import Image

from aet.components.split_records import split_records, write_splits
from aet.config import ImageConfig
from aet.config.contract import IMAGE_SUFFIXES
from aet.kinds.image.limits import DecodedImage, check_size_on_disk, decode_checked

PIXEL_MEASURES = ("brightness", "contrast")  # float features of DecodedImage


class IngestionError(ValueError):
    """Bad input: too many undecodable images, no images, or an unlabelled file."""


@dataclass(frozen=True)
class ImageFile:
    """One image to ingest: its bytes, label, split and where it came from. A file over
    the size limit is not read: its `data` is empty and `size` says how big it is."""

    source: str
    label: str
    split: str
    data: bytes
    size: int


@dataclass
class IngestionReport:
    examples: dict[str, int] = field(default_factory=dict)  # split -> examples written
    bad: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> count

    @property
    def total(self) -> int:
        return sum(self.examples.values()) + len(self.bad)


def split_of(source: str, shares: Mapping[str, float]) -> str:
    """A stable split for a file from a hash of its path relative to the folder, so
    the same file always lands in the same split."""
    bucket = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) % 100
    edge = 0.0
    for name, share in shares.items():
        edge += share * 100
        if bucket < round(edge):
            return name
    return list(shares)[-1]


def label_of(relative: Path, rules: Sequence[tuple[str, str]] | None) -> str | None:
    """The class of a file: by the first matching (pattern, class) rule on its name,
    or by its first sub-folder when there are no rules."""
    if rules:
        for pattern, label in rules:
            if re.search(pattern, relative.name):
                return label
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def folder_images(
    folder: str | Path,
    shares: Mapping[str, float],
    rules: Sequence[tuple[str, str]] | None = None,
    max_bytes: int = ImageConfig().max_bytes,
) -> Iterator[ImageFile]:
    """Every file under `folder` (hidden files aside), labelled and assigned a split.
    A file whose suffix is not an image's, or that is over `max_bytes` (left unread),
    is still yielded, for the decode step to report by name."""
    root = Path(folder)
    if not root.is_dir():
        raise IngestionError(f"{root}: not a folder")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        label = label_of(relative, rules)
        if label is None:
            how = "no rule matches its name" if rules else "it is not in a class sub-folder"
            raise IngestionError(f"{path}: cannot tell its class: {how}")
        size = path.stat().st_size
        data = path.read_bytes() if size <= max_bytes else b""
        yield ImageFile(str(path), label, split_of(str(relative), shares), data, size)


def npz_images(
    path: str | Path, classes: Sequence[str], split_names: Mapping[str, str] | None = None
) -> Iterator[ImageFile]:
    """The train/val/test arrays of a MedMNIST `.npz`, splits kept (renamed through
    `split_names`, e.g. val -> eval), PNG-encoded; label index i is `classes[i]`."""
    split_names = split_names or {}
    with np.load(path) as data:
        splits = sorted({key.rsplit("_", 1)[0] for key in data.files if key.endswith("_images")})
        if not splits:
            raise IngestionError(f"{path}: no '<split>_images' arrays (has {sorted(data.files)})")
        for split in splits:
            images, labels = data[f"{split}_images"], data[f"{split}_labels"].reshape(-1)
            for index, (image, label) in enumerate(zip(images, labels, strict=True)):
                if not 0 <= int(label) < len(classes):
                    raise IngestionError(
                        f"{path}: {split}_labels[{index}] is {int(label)}, but only "
                        f"{len(classes)} classes are configured ({list(classes)})"
                    )
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="PNG")
                yield ImageFile(
                    f"{path}:{split}:{index}",
                    classes[int(label)],
                    split_names.get(split, split),
                    buffer.getvalue(),
                    buffer.tell(),
                )


def decode(image: ImageFile, limits: ImageConfig) -> DecodedImage:
    """A decodable PNG or JPEG within `limits` (checked from its header first, so a
    bomb is never decoded); ValueError otherwise."""
    if not image.source.lower().endswith(IMAGE_SUFFIXES) and ".npz:" not in image.source:
        raise ValueError(f"not a PNG or JPEG file (suffix '{Path(image.source).suffix}')")
    check_size_on_disk(image.size, limits)
    return decode_checked(image.data, limits)


def to_example(image: ImageFile, decoded: DecodedImage) -> tf.train.Example:
    def bytes_feature(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def int_feature(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def float_feature(value: float) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": bytes_feature(image.data),
                "label": bytes_feature(image.label.encode()),
                "source": bytes_feature(image.source.encode()),
                "height": int_feature(decoded.height),
                "width": int_feature(decoded.width),
                "channels": int_feature(decoded.channels),
                **{name: float_feature(getattr(decoded, name)) for name in PIXEL_MEASURES},
            }
        )
    )


class _DecodeOrReport(beam.DoFn):
    """Good images become (split, serialized example); bad ones go to the 'bad' output."""

    def __init__(self, limits: ImageConfig) -> None:
        super().__init__()
        self.limits = limits

    def process(self, image: ImageFile) -> Iterable:
        try:
            decoded = decode(image, self.limits)
        except ValueError as error:
            yield beam.pvalue.TaggedOutput("bad", (image.source, str(error)))
            return
        yield image.split, to_example(image, decoded).SerializeToString()


def ingest(
    images: Iterable[ImageFile],
    output_dir: str,
    splits: Sequence[str],
    max_bad_share: float = 0.0,
    beam_pipeline_args: Sequence[str] = (),
    limits: ImageConfig | None = None,
) -> IngestionReport:
    """Decode-check and write `images` as `<output_dir>/Split-<split>/` TFRecords;
    raise IngestionError naming the bad files when more than `max_bad_share` are bad
    (undecodable, or over the size `limits`: the config's image settings).
    The report is also what a caller prints: counts per split and every bad file."""
    images = list(images)
    if not images:
        raise IngestionError("no images to ingest")
    unknown = sorted({image.split for image in images} - set(splits))
    if unknown:
        raise IngestionError(f"images fall in splits {unknown}, which are not among {list(splits)}")
    if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir):
        raise IngestionError(f"{output_dir}: not empty; ingestion writes into a new folder")
    report_dir = os.path.join(output_dir, ".report")
    options = beam.options.pipeline_options.PipelineOptions(list(beam_pipeline_args))
    with beam.Pipeline(options=options) as pipeline:
        decoded = (
            pipeline
            | "Images" >> beam.Create(images)
            | "Decode"
            >> beam.ParDo(_DecodeOrReport(limits or ImageConfig())).with_outputs("bad", main="good")
        )
        write_splits(decoded.good, output_dir, splits, "images")
        _ = (
            decoded.bad
            | "BadLines" >> beam.Map(lambda bad: f"{bad[0]}\t{bad[1]}")
            | "WriteBad"
            >> beam.io.WriteToText(os.path.join(report_dir, "bad"), shard_name_template="")
        )
    report = IngestionReport(bad=_read_bad(os.path.join(report_dir, "bad")))
    for split in splits:
        labels = Counter(
            tf.train.Example.FromString(record.numpy())
            .features.feature["label"]
            .bytes_list.value[0]
            .decode()
            for record in split_records(output_dir, split)
        )
        report.examples[split] = sum(labels.values())
        report.labels[split] = dict(sorted(labels.items()))
    if len(report.bad) > max_bad_share * report.total:
        listed = "\n".join(f"  {source}: {reason}" for source, reason in report.bad)
        raise IngestionError(
            f"{len(report.bad)} of {report.total} images are bad (more than the allowed "
            f"share {max_bad_share:.0%}):\n{listed}"
        )
    empty = [split for split, count in report.examples.items() if count == 0]
    if empty:
        raise IngestionError(
            f"no images fall in the split(s) {empty} (examples per split: {report.examples}); "
            "give more images or larger shares in data.splits"
        )
    return report


def _read_bad(path: str) -> list[tuple[str, str]]:
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as lines:
        return sorted(tuple(line.rstrip("\n").split("\t", 1)) for line in lines if line.strip())
