"""Image requests: the encoded PNG/JPEG file, unchanged, under the image feature; a file
over the config's size limits or that Pillow cannot decode is refused with its name."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig, ImageConfig
from aet.config.contract import IMAGE_SUFFIXES
from aet.kinds.image.limits import ImageLimitError, check_size_on_disk, decode_checked
from aet.serving.requests import PredictionInput, RequestError


def _image_bytes(path: Path, limits: ImageConfig) -> bytes:
    """The file's bytes, once it is within `limits` (checked before it is read, then
    from its header) and Pillow has decoded it as a PNG or JPEG image."""
    try:
        check_size_on_disk(path.stat().st_size, limits)
        data = path.read_bytes()
    except OSError as exc:
        raise RequestError(f"{path}: cannot be read ({exc.strerror})") from exc
    except ImageLimitError as exc:
        raise RequestError(f"{path}: {exc}") from exc
    try:
        decode_checked(data, limits)
    except ValueError as exc:  # over a limit, not a PNG or JPEG, or cannot be decoded
        raise RequestError(f"{path}: {exc}") from exc
    return data


def examples_from_images(config: DomainConfig, paths: Iterable[str | Path]) -> np.ndarray:
    """Serialized examples holding each file's encoded bytes under the image feature."""
    if config.features.image is None:
        raise RequestError(f"domain '{config.name}' takes records, not image files")
    name = config.features.image.name
    examples = []
    for path in paths:
        data = _image_bytes(Path(path), config.features.image)
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
        example = tf.train.Example(features=tf.train.Features(feature={name: feature}))
        examples.append(example.SerializeToString())
    return np.array(examples, dtype=object)


def _image_files(path: Path) -> list[Path]:
    """The file itself, or the folder's PNG/JPEG files (sub-folders too), sorted."""
    if path.is_file():
        return [path]
    files = sorted(
        file for file in path.rglob("*") if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise RequestError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def read_image_input(config: DomainConfig, path: Path) -> PredictionInput:
    """An image file, or every image in a folder; ids are the files' paths."""
    files = _image_files(path)
    return PredictionInput([str(file) for file in files], examples_from_images(config, files))
