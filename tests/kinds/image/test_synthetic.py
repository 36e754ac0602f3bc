"""Synthetic warm-up images: PNG and JPEG in turn, twice the model's size, under the
image feature alone, the same for one seed."""

from __future__ import annotations

import tensorflow as tf

from aet.config import ImageConfig
from aet.kinds.image.synthetic import synthetic_examples
from aet.pipelines.domains import load_domain


def test_images_are_noise_in_both_formats_with_no_source_path() -> None:
    config = load_domain("medical_imaging")
    config = config.copy(
        update={
            "features": config.features.copy(
                update={"image": ImageConfig(height=20, width=30, channels=1)}
            )
        }
    )
    sample = [b"x"] * 4  # only their number matters
    made = [tf.train.Example.FromString(e) for e in synthetic_examples(config, sample, 7)]
    assert len(made) == 4 and all(set(e.features.feature) == {"image"} for e in made)
    encoded = [e.features.feature["image"].bytes_list.value[0] for e in made]
    assert [data[:4] for data in encoded] == [
        b"\x89PNG",
        b"\xff\xd8\xff\xe0",
        b"\x89PNG",
        b"\xff\xd8\xff\xe0",
    ]
    shapes = {tuple(tf.io.decode_image(data).shape) for data in encoded}
    assert shapes == {(40, 60, 1)}
    assert [tf.train.Example.FromString(e) for e in synthetic_examples(config, sample, 7)] == made
