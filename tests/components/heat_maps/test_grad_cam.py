"""`components.heat_maps.grad_cam`: Grad-CAM finds what a trained image model looks at, and the
overlay colours it over the image."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aet.components.heat_maps.grad_cam import grad_cam, overlay
from aet.components.models.attention_cnn import build_attention_cnn
from aet.config import AugmentationConfig, ImageConfig, ModelConfig

INPUT = "image_xf"
SIZE = 16
CONFIG = ModelConfig(
    architecture="attention_cnn",
    embedding_dim=8,
    num_layers=1,
    num_heads=2,
    conv_filters=[8, 8],
    dropout=0.0,
    attention_dropout=0.0,
    augmentation=AugmentationConfig(horizontal_flip=False, rotation=0, contrast=0, translation=0),
)


def _corner_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise; every second image (class 1) has a bright square in its top-left corner."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.5, size=(n, SIZE, SIZE, 1)).astype(np.float32)
    labels = (np.arange(n) % 2).astype(np.float32)
    images[labels == 1, 1:5, 1:5] += 3.0
    return images, labels


@pytest.fixture(scope="module")
def corner_model() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    model = build_attention_cnn(ImageConfig(height=SIZE, width=SIZE), CONFIG, 2, INPUT)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    images, labels = _corner_images(256, seed=0)
    model.fit({INPUT: images}, labels, batch_size=32, epochs=4, verbose=0)  # 32 steps
    return model


def _quadrants(heat: np.ndarray) -> tuple[float, float]:
    """Mean heat of the top-left and of the bottom-right quarter."""
    half_h, half_w = heat.shape[1] // 2, heat.shape[2] // 2
    return float(heat[:, :half_h, :half_w].mean()), float(heat[:, half_h:, half_w:].mean())


def test_grad_cam_highlights_the_corner_that_decides_the_class(corner_model):
    images, labels = _corner_images(16, seed=1)
    positives = {INPUT: images[labels == 1]}
    assert np.all(corner_model.predict(positives, verbose=0) > 0.9)
    heat = grad_cam(corner_model, positives)
    assert heat.shape == (8, 4, 4)  # 16 -> 8 -> 4
    assert heat.min() >= 0
    np.testing.assert_allclose(heat.max(axis=(1, 2)), 1.0, rtol=1e-6)
    corner, opposite = _quadrants(heat)
    # Seeds 0-11 all give a ratio of at least 1.5 (seed 0: about 20).
    assert corner > 1.5 * opposite
    # Class 0's score is minus class 1's: it points only where class 1's does not.
    against = grad_cam(corner_model, positives, class_index=0)
    np.testing.assert_allclose(against * heat, 0.0, atol=1e-6)


def test_grad_cam_works_while_the_layers_are_frozen(corner_model):
    images, _ = _corner_images(4, seed=2)
    expected = grad_cam(corner_model, {INPUT: images})
    corner_model.trainable = False  # e.g. during progressive unfreezing
    try:
        np.testing.assert_allclose(grad_cam(corner_model, {INPUT: images}), expected, atol=1e-6)
    finally:
        corner_model.trainable = True


def test_grad_cam_of_a_multiclass_model_follows_the_class_index():
    tf.keras.utils.set_random_seed(3)
    image = ImageConfig(height=12, width=12, channels=3)
    model = build_attention_cnn(image, CONFIG, 3, INPUT)
    inputs = {INPUT: tf.random.normal((3, 12, 12, 3))}
    maps = [grad_cam(model, inputs, class_index=index) for index in range(3)]
    for heat in maps:
        assert heat.shape == (3, 3, 3)
        assert heat.min() >= 0 and heat.max() <= 1 + 1e-6
    assert not np.allclose(maps[0], maps[1])
    predicted = model(inputs, training=False).numpy().argmax(axis=1)
    default = grad_cam(model, inputs)
    for row, index in enumerate(predicted):
        np.testing.assert_allclose(default[row], maps[index][row], atol=1e-6)


def test_grad_cam_reads_the_logits_of_a_model_that_carries_another_layer(tmp_path):
    """An exported model carries the Transform layer as its last tracked layer; Grad-CAM
    and the answered class still come from the output Dense's logits."""
    from aet.components.heat_maps.grad_cam import GradCam

    tf.keras.utils.set_random_seed(1)
    model = build_attention_cnn(ImageConfig(height=SIZE, width=SIZE), CONFIG, 2, INPUT)
    model.carried = tf.keras.layers.Lambda(tf.identity, name="carried")
    assert model.layers[-1].name == "carried"
    cam = GradCam(model)
    assert cam.logits and cam.head.name == "probability"
    images, _ = _corner_images(16, seed=2)
    inputs = {INPUT: tf.constant(images)}
    probability = model(inputs, training=False).numpy()[:, 0]
    answered = cam.predicted_classes(inputs).numpy()
    np.testing.assert_array_equal(answered, (probability > 0.5).astype(int))


def test_grad_cam_rejects_a_class_a_binary_model_does_not_have(corner_model):
    images, _ = _corner_images(2, seed=3)
    with pytest.raises(ValueError, match="classes 0 and 1"):
        grad_cam(corner_model, {INPUT: images}, class_index=2)


def _hot_top_left(cells: int = 7) -> np.ndarray:
    heat = np.zeros((cells, cells), np.float32)
    heat[: cells // 2, : cells // 2] = 1.0
    return heat


def test_overlay_colours_hot_regions_red_and_cold_ones_blue_over_a_grey_image(tmp_path):
    grey = np.full((28, 28), 128, np.uint8)
    result = overlay(grey, _hot_top_left(), size=224)
    assert isinstance(result, Image.Image)
    assert result.mode == "RGB"
    assert result.size == (224, 224)
    pixels = np.asarray(result).astype(int)
    hot, cold = pixels[20, 20], pixels[200, 200]
    assert hot[0] > hot[2] + 40  # red: no longer the grey input
    assert cold[2] > cold[0] + 40  # blue
    result.save(tmp_path / "overlay.png")
    assert Image.open(tmp_path / "overlay.png").size == (224, 224)


def test_overlay_keeps_the_aspect_of_rgb_and_single_channel_images():
    tall = np.zeros((40, 20, 3), np.uint8)
    assert overlay(tall, _hot_top_left(), size=100).size == (50, 100)
    wide = np.zeros((10, 30, 1), np.uint8)
    assert overlay(wide, _hot_top_left(), size=60).size == (60, 20)


def test_overlay_with_no_blend_is_the_resized_image():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = np.asarray(overlay(image, _hot_top_left(), alpha=0.0, size=32))
    np.testing.assert_array_equal(result, image)


def test_a_caption_is_written_along_the_bottom_and_leaves_the_rest_alone():
    from aet.components.heat_maps.grad_cam import captioned

    image = Image.new("RGB", (224, 224), (120, 60, 200))
    out = captioned(image, "true: pneumonia  P(pneumonia) = 0.812")
    pixels = np.asarray(out)
    assert out.size == image.size
    assert (pixels[:150] == (120, 60, 200)).all()  # the picture above the band is untouched
    band = pixels[-17:]
    assert (band > 200).all(axis=-1).any() and (band == 0).all(axis=-1).any()  # light on black
