"""Images in Transform: encoded PNG/JPEG bytes decoded, resized to the configured size
and z-scored over all training pixels (TFT analyzers), so a served model takes the same
raw bytes the pipeline ingested."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from aet.config import ImageConfig


def image_pixels(encoded: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    """[batch] encoded PNG/JPEG -> [batch, height, width, channels] floats in [0, 1].

    Colour images become grey (or grey ones RGB) to match `channels`; downscaling is
    antialiased, so a 1000-pixel X-ray does not alias into noise at 28 pixels.
    """
    size = (image.height, image.width)

    def decode_one(data: tf.Tensor) -> tf.Tensor:
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
