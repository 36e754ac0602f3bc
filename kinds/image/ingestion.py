"""Image ingestion's parts, as the ImageExampleGen component's Beam workers run them
(example_gen.py): name the files, read and decode each one, and write it as a
tf.Example.

Each example holds the encoded image bytes (`image`, PNG or JPEG as found; arrays from
an `.npz` are PNG-encoded), the label (`label`, the class name), where it came from
(`source`: a file path, or `file.npz:split:index`), its original `height`, `width`
and `channels`, and its grey levels' mean and spread (`brightness`, `contrast`: what a
new span's drift check compares, so a change of scanner or exposure shows). Every
image is decoded once here, so a file that is corrupt or not an image is reported with
its name and reason and counted; the run fails only when the share of bad files
exceeds `max_bad_share`, and then names them. Nothing is dropped silently: the report
lists every bad file.

Labels for a folder come from its class sub-folders (`normal/x.png`), or, for a flat
folder, from the first rule whose regular expression matches the file name.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import apache_beam as beam
import numpy as np
import tensorflow as tf
from PIL import Image

from aet.config import DomainConfig, ImageConfig
from aet.config.contract import IMAGE_SUFFIXES
from aet.kinds.image.limits import DecodedImage, check_size_on_disk, decode_checked

PIXEL_MEASURES = ("brightness", "contrast")  # float features of DecodedImage


class IngestionError(ValueError):
    """Bad input: too many undecodable images, no images, or an unlabelled file."""


@dataclass(frozen=True)
class ListedImage:
    """One file to ingest, by name only: the workers read it."""

    path: str
    label: str
    split: str


@dataclass(frozen=True)
class ImageFile:
    """One image to decode: its bytes, label, split and where it came from. A file over
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

    def problems(self, max_bad_share: float) -> str | None:
        """Why this ingestion fails the run, or None: more bad files than allowed, or a
        split without images."""
        if len(self.bad) > max_bad_share * self.total:
            listed = "\n".join(f"  {source}: {reason}" for source, reason in self.bad)
            return (
                f"{len(self.bad)} of {self.total} images are bad (more than the allowed "
                f"share {max_bad_share:.0%}):\n{listed}"
            )
        empty = [split for split, count in self.examples.items() if count == 0]
        if empty:
            return (
                f"no images fall in the split(s) {empty} (examples per split: "
                f"{self.examples}); give more images or larger shares in data.splits"
            )
        return None


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


def label_of(relative: PurePosixPath, rules: Sequence[tuple[str, str]] | None) -> str | None:
    """The class of a file: by the first matching (pattern, class) rule on its name,
    or by its class sub-folder when there are no rules."""
    if rules:
        for pattern, label in rules:
            if re.search(pattern, relative.name):
                return label
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def label_rules(config: DomainConfig) -> list[tuple[str, str]] | None:
    """The config's (pattern, class) rules, or None: labels from class sub-folders."""
    return [(rule.pattern, rule.label) for rule in config.data.label_rules] or None


def folder_pattern(rules: Sequence | None) -> str:
    """The files of an image folder, as a glob under it: a flat folder's files when
    rules name the classes, else the files one level down, in the class sub-folders.
    ExampleGen's driver fingerprints what it matches, so a changed file is new input."""
    return "*" if rules else "*/*"


def listed_images(
    root: str, shares: Mapping[str, float], rules: Sequence[tuple[str, str]] | None = None
) -> list[ListedImage]:
    """Every file under `root` (hidden files aside), labelled and assigned a split,
    by name only. A file whose suffix is not an image's is still listed, for the decode
    step to report by name; a file the layout does not place is refused."""
    if not tf.io.gfile.isdir(root):
        raise IngestionError(f"{root}: not a folder")
    found = []
    for folder, _, files in tf.io.gfile.walk(root):
        for name in files:
            path = posixpath.join(folder, name)
            relative = PurePosixPath(posixpath.relpath(path, root))
            if any(part.startswith(".") for part in relative.parts):
                continue
            if len(relative.parts) > (1 if rules else 2):
                where = "the folder itself" if rules else "a class sub-folder"
                raise IngestionError(
                    f"{path}: too deep; images lie in {where} (data.label_rules decide "
                    "which layout: rules for a flat folder, none for class sub-folders)"
                )
            label = label_of(relative, rules)
            if label is None:
                how = "no rule matches its name" if rules else "it is not in a class sub-folder"
                raise IngestionError(f"{path}: cannot tell its class: {how}")
            found.append(ListedImage(path, label, split_of(str(relative), shares)))
    return sorted(found, key=lambda image: image.path)


def read_image(image: ListedImage, max_bytes: int) -> ImageFile:
    """The file's bytes, unless it is over `max_bytes` (then left unread)."""
    size = tf.io.gfile.stat(image.path).length
    if size > max_bytes:
        return ImageFile(image.path, image.label, image.split, b"", size)
    with tf.io.gfile.GFile(image.path, "rb") as handle:
        return ImageFile(image.path, image.label, image.split, handle.read(), size)


def npz_splits(path: str) -> list[str]:
    """The splits a MedMNIST `.npz` holds (`<split>_images` arrays)."""
    with tf.io.gfile.GFile(path, "rb") as handle, np.load(handle) as data:
        return sorted({key.rsplit("_", 1)[0] for key in data.files if key.endswith("_images")})


def npz_images(
    path: str, npz_split: str, split: str, classes: Sequence[str]
) -> Iterator[ImageFile]:
    """The images of one split of a MedMNIST `.npz` (`npz_split`, written as the
    pipeline's `split`), PNG-encoded; label index i is `classes[i]`."""
    with tf.io.gfile.GFile(path, "rb") as handle, np.load(handle) as data:
        images, labels = data[f"{npz_split}_images"], data[f"{npz_split}_labels"].reshape(-1)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        if not 0 <= int(label) < len(classes):
            raise IngestionError(
                f"{path}: {npz_split}_labels[{index}] is {int(label)}, but only "
                f"{len(classes)} classes are configured ({list(classes)})"
            )
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        yield ImageFile(
            f"{path}:{npz_split}:{index}",
            classes[int(label)],
            split,
            buffer.getvalue(),
            buffer.tell(),
        )


def decode(image: ImageFile, limits: ImageConfig) -> DecodedImage:
    """A decodable PNG or JPEG within `limits` (checked from its header first, so a
    bomb is never decoded); ValueError otherwise."""
    if not image.source.lower().endswith(IMAGE_SUFFIXES) and ".npz:" not in image.source:
        raise ValueError(f"not a PNG or JPEG file (suffix '{PurePosixPath(image.source).suffix}')")
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


class DecodeOrReport(beam.DoFn):
    """Good images become (split, label, serialized example); bad ones go to the 'bad'
    output as (source, reason)."""

    def __init__(self, limits: ImageConfig) -> None:
        super().__init__()
        self.limits = limits

    def process(self, image: ImageFile) -> Iterable:
        try:
            decoded = decode(image, self.limits)
        except ValueError as error:
            yield beam.pvalue.TaggedOutput("bad", (image.source, str(error)))
            return
        yield image.split, image.label, to_example(image, decoded).SerializeToString()
