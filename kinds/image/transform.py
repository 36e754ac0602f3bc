"""Images in Transform: encoded PNG/JPEG bytes decoded, resized to the configured size
and z-scored over all training pixels (TFT analyzers), so a served model takes the same
raw bytes the pipeline ingested."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from aet.config import ImageConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"
PNG_HEADER_BYTES = 24  # the signature, then the IHDR chunk's length, type, width, height


def _png_size(data: tf.Tensor) -> tf.Tensor:
    """[height, width] from a PNG's IHDR chunk (big-endian, after the signature)."""
    width_height = tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.int32, little_endian=False)
    return tf.cast(tf.reverse(width_height, [0]), tf.int64)


def within_limits(data: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    """`data` (one encoded image), once its size and the pixels its header declares are
    within the config's limits (kinds/image/limits.py); otherwise the graph fails with
    an InvalidArgumentError, which TF Serving answers as INVALID_ARGUMENT, before any
    pixel is decoded."""
    size = tf.strings.length(data)
    is_png = tf.equal(tf.strings.substr(data, 0, len(PNG_SIGNATURE)), PNG_SIGNATURE)
    is_jpeg = tf.equal(tf.strings.substr(data, 0, len(JPEG_START)), JPEG_START)
    readable = [
        tf.debugging.assert_positive(size, message="an empty image (0 bytes)"),
        tf.debugging.assert_less_equal(
            size,
            image.max_bytes,
            message=f"an image over features.image.max_bytes ({image.max_bytes} bytes)",
        ),
        tf.debugging.Assert(is_png | is_jpeg, ["not a PNG or JPEG image"]),
        tf.debugging.Assert(
            tf.logical_not(is_png) | (size >= PNG_HEADER_BYTES), ["a PNG cut short in its header"]
        ),
    ]
    with tf.control_dependencies(readable):
        height_width = tf.cond(
            is_png,
            lambda: _png_size(data),
            lambda: tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64),
        )
    small_enough = tf.debugging.assert_less_equal(
        height_width[0] * height_width[1],
        tf.constant(image.max_pixels, tf.int64),
        message=f"an image declaring more than features.image.max_pixels ({image.max_pixels})",
    )
    with tf.control_dependencies([small_enough]):
        return tf.identity(data)


def image_pixels(encoded: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    """[batch] encoded PNG/JPEG -> [batch, height, width, channels] floats in [0, 1].

    Each image is checked against the config's limits from its header first. Colour
    images become grey (or grey ones RGB) to match `channels`; downscaling is
    antialiased, so a 1000-pixel X-ray does not alias into noise at 28 pixels.
    """
    size = (image.height, image.width)

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        data = within_limits(data, image)
        decoded = tf.io.decode_image(data, channels=image.channels, expand_animations=False)
        pixels = tf.image.convert_image_dtype(decoded, tf.float32)
        return tf.image.resize(pixels, size, antialias=True)

    return tf.map_fn(
        decode_one,
        encoded,
        fn_output_signature=tf.TensorSpec((*size, image.channels), tf.float32),
    )


def normalised_image(encoded: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    pixels = image_pixels(tf.reshape(encoded, [-1]), image)
    mean = tft.mean(pixels)
    return (pixels - mean) / tf.sqrt(tft.var(pixels) + 1e-12)
