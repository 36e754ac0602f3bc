"""How big an image may be, checked from its header before any pixel is decoded.

A small file can declare a huge image: a 126-byte PNG may say 20000x20000, which would
decode to 1.6 GB of pixels (6.4 GB as floats). Pillow refuses such files only with its
own exception (DecompressionBombError) above 179 megapixels and merely warns above 89,
so ingestion, `aet predict` and the served signature all check the configured limits
(`features.image.max_pixels`, `max_bytes`) first, each with the same rule:
`check_image` here for Pillow's side, `within_limits` in the Transform graph for the
model's (kinds/image/transform.py).
"""

from __future__ import annotations

import io
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from aet.config import ImageConfig
from aet.config.contract import IMAGE_FORMATS


class ImageLimitError(ValueError):
    """An image that is empty, larger on disk than `max_bytes`, or that declares more
    pixels than `max_pixels`; the message says which and by how much."""


def check_size_on_disk(size: int, image: ImageConfig) -> None:
    """Refuses an empty file or one over `max_bytes`, before it is read."""
    if size == 0:
        raise ImageLimitError("an empty file (0 bytes)")
    if size > image.max_bytes:
        raise ImageLimitError(
            f"{size} bytes, over features.image.max_bytes ({image.max_bytes}); nothing was decoded"
        )


def check_image(data: bytes, image: ImageConfig) -> tuple[int, int]:
    """(height, width) that `data` declares, once its size on disk and its declared
    pixels are within `image`'s limits and it is a PNG or JPEG; nothing is decoded."""
    check_size_on_disk(len(data), image)
    try:
        with warnings.catch_warnings():
            # The configured limit decides; Pillow's own warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                kind, (width, height) = opened.format, opened.size
    except Image.DecompressionBombError as error:
        raise ImageLimitError(
            f"declares more pixels than Pillow will open ({error}); "
            f"features.image.max_pixels is {image.max_pixels}"
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot be decoded ({error})") from error
    if kind not in IMAGE_FORMATS:
        raise ValueError(f"a {kind} image; the model takes PNG or JPEG")
    if width * height > image.max_pixels:
        raise ImageLimitError(
            f"declares {width}x{height} = {width * height} pixels, over "
            f"features.image.max_pixels ({image.max_pixels}); nothing was decoded"
        )
    return height, width


class DecodedImage(NamedTuple):
    """What decoding found: the size, and the grey levels' mean (`brightness`) and
    standard deviation (`contrast`) in [0, 1], which a span's drift check compares."""

    height: int
    width: int
    channels: int
    brightness: float
    contrast: float


def decode_checked(data: bytes, image: ImageConfig) -> DecodedImage:
    """`data` decoded in full once `check_image` passes, so a bomb is refused from its
    header and a cut-short file by its decoder."""
    check_image(data, image)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            grey = np.asarray(opened.convert("L"), dtype=np.float32) / 255
            return DecodedImage(
                opened.height,
                opened.width,
                len(opened.getbands()),
                float(grey.mean()),
                float(grey.std()),
            )
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot be decoded ({error})") from error
