"""Image size limits, checked from the header before any pixel is decoded: by Pillow's
side (`check_image`, for ingestion and `aet predict`) and by the served signature's
(`within_limits`, in the Transform graph), with one rule."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from aet.config import ImageConfig
from aet.kinds.image.limits import ImageLimitError, check_image, check_size_on_disk
from aet.kinds.image.transform import image_pixels
from tests.image_bombs import png_declaring, real_png
from tests.subprocesses import ROOT

LIMITS = ImageConfig(height=8, width=8)


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    """A real, decodable 144-megapixel PNG (12000x12000), 140 KB on disk."""
    return real_png(tmp_path_factory.mktemp("huge") / "huge.png", 12000, 12000)


def _jpeg(height: int, width: int) -> bytes:
    return tf.io.encode_jpeg(tf.zeros([height, width, 1], tf.uint8)).numpy()


def test_an_image_within_the_limits_passes_with_its_declared_size() -> None:
    assert check_image(_jpeg(40, 30), LIMITS) == (40, 30)
    assert check_image(png_declaring(50, 20), LIMITS) == (20, 50)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bomb", r"declares more pixels than Pillow will open"),
        ("huge", r"declares 12000x12000 = 144000000 pixels, over features\.image\.max_pixels"),
        ("empty", r"an empty file \(0 bytes\)"),
        ("over max_bytes", r"2000 bytes, over features\.image\.max_bytes \(1024\)"),
    ],
)
def test_pillows_side_refuses_each_oversized_image_saying_why(name, reason, huge_png) -> None:
    data = {
        "bomb": png_declaring(20000, 20000),
        "huge": huge_png.read_bytes(),
        "empty": b"",
        "over max_bytes": b"\xff\xd8\xff" + b"\x00" * 1997,
    }[name]
    limits = ImageConfig(max_bytes=1024) if name == "over max_bytes" else LIMITS
    with pytest.raises(ImageLimitError, match=reason):
        check_image(data, limits)


def test_a_file_over_max_bytes_is_refused_before_it_is_read() -> None:
    with pytest.raises(ImageLimitError, match="nothing was decoded"):
        check_size_on_disk(10**12, LIMITS)
    check_size_on_disk(LIMITS.max_bytes, LIMITS)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bomb", "more than features.image.max_pixels (25000000)"),
        ("huge", "more than features.image.max_pixels (25000000)"),
        ("huge jpeg header", "more than features.image.max_pixels (1000)"),
        ("empty", "an empty image (0 bytes)"),
        ("gif", "not a PNG or JPEG image"),
        ("cut-short png", "a PNG cut short in its header"),
    ],
)
def test_the_signatures_side_fails_with_invalid_argument_before_decoding(
    name, message, huge_png
) -> None:
    data, limits = {
        "bomb": (png_declaring(20000, 20000), LIMITS),
        "huge": (huge_png.read_bytes(), LIMITS),
        "huge jpeg header": (_jpeg(40, 30), ImageConfig(height=8, width=8, max_pixels=1000)),
        "empty": (b"", LIMITS),
        "gif": (b"GIF89a" + b"\x00" * 20, LIMITS),
        "cut-short png": (b"\x89PNG\r\n\x1a\n\x00\x00", LIMITS),
    }[name]
    pixels = tf.function(lambda encoded: image_pixels(encoded, limits))
    assert pixels(tf.constant([_jpeg(16, 16)])).shape == (1, 8, 8, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        pixels(tf.constant([_jpeg(16, 16), data]))


# Peak memory of checking the 144-megapixel PNG both ways, in a fresh process: decoding
# it would take 144 MB as bytes and 576 MB as floats.
MEASURE_PEAK = """
import resource, sys
import tensorflow as tf
from aet.config import ImageConfig
from aet.kinds.image.limits import ImageLimitError, check_image
from aet.kinds.image.transform import image_pixels
data = open(sys.argv[1], "rb").read()
limits = ImageConfig(height=8, width=8)
pixels = tf.function(lambda encoded: image_pixels(encoded, limits))
pixels(tf.constant([tf.io.encode_png(tf.zeros([4, 4, 1], tf.uint8)).numpy()]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    check_image(data, limits)
except ImageLimitError:
    pass
try:
    pixels(tf.constant([data]))
except tf.errors.InvalidArgumentError:
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_checking_a_144_megapixel_image_takes_no_memory_to_speak_of(huge_png) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK, str(huge_png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown_mb = int(completed.stdout.split()[-1])
    assert grown_mb < 50, f"peak memory grew by {grown_mb} MB while checking"


def test_pixels_within_the_limits_still_decode_as_before() -> None:
    stripes = np.tile(np.array([0, 255], np.uint8), (16, 8))[..., None]
    pixels = image_pixels(tf.constant([tf.io.encode_png(stripes).numpy()]), LIMITS).numpy()
    assert pixels.shape == (1, 8, 8, 1) and 0.4 < pixels.mean() < 0.6


def test_the_limit_leaves_room_for_the_warmup_images() -> None:
    with pytest.raises(ValueError, match=r"at least 4 x height x width \(40000\)"):
        ImageConfig(height=100, width=100, max_pixels=30_000)
    assert ImageConfig(height=100, width=100, max_pixels=40_000).max_pixels == 40_000
