"""Synthetic images for the warm-up requests and the serving check: seeded noise over a
gradient, twice the model's size (so the resize runs), PNG and JPEG in turn, under the
image feature alone, as a client sends them; none is anyone's scan, and no file path
travels with them."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig


def synthetic_examples(config: DomainConfig, examples: list[bytes], seed: int) -> list[bytes]:
    """As many serialized examples as `examples`."""
    image = config.features.image
    rng = np.random.default_rng(seed)
    height, width = 2 * image.height, 2 * image.width
    gradient = np.linspace(0, 160, width)[None, :, None]
    synthetic = []
    for index in range(len(examples)):
        noise = rng.integers(0, 96, size=(height, width, image.channels))
        pixels = tf.constant((gradient + noise).astype(np.uint8))
        encoded = tf.io.encode_png(pixels) if index % 2 == 0 else tf.io.encode_jpeg(pixels)
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded.numpy()]))
        example = tf.train.Example(features=tf.train.Features(feature={image.name: feature}))
        synthetic.append(example.SerializeToString(deterministic=True))
    return synthetic
