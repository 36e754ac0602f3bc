"""Where an image model looked: Grad-CAM heat maps and their overlays on the image.

Grad-CAM (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization") weights each channel of a convolutional feature map by
the mean gradient of the class score over its positions, sums the weighted channels
and keeps the positive part: the regions whose features raise that score. The score
is taken before the output activation, as in the paper: a saturated sigmoid or softmax
has vanishing gradients and would give an empty map for the most confident images.
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf
from PIL import Image

from aet.components.models.attention_cnn import FEATURE_MAP_LAYER

_OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")


class GradCam:
    """Grad-CAM of one Keras model's layer `layer_name`, usable eagerly and inside a
    tf.function (the exported `explain` signature traces it)."""

    def __init__(self, model: tf.keras.Model, layer_name: str = FEATURE_MAP_LAYER) -> None:
        # The layer that computes the output: not `model.layers[-1]`, which in a model
        # reloaded from its export is the Transform layer the signatures carry.
        self.head = model.output._keras_history.layer
        self.logits = (
            isinstance(self.head, tf.keras.layers.Dense)
            and tf.keras.activations.serialize(self.head.activation) in _OUTPUT_ACTIVATIONS
        )
        self.probe = tf.keras.Model(
            model.input,
            [
                model.get_layer(layer_name).output,
                self.head.input if self.logits else model.output,
            ],
        )

    def _scores(self, inputs: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """(the layer's feature map, per-class scores): the output Dense's
        pre-activation when it ends in sigmoid or softmax, else the model's output."""
        features, last = self.probe(inputs, training=False)
        if self.logits:
            last = tf.matmul(last, self.head.kernel) + (
                self.head.bias if self.head.use_bias else 0.0
            )
        return features, last

    def maps(self, inputs: dict[str, tf.Tensor], class_index: tf.Tensor) -> tf.Tensor:
        """[batch, h', w'] maps in [0, 1] of each example's class `class_index` ([batch]
        ints; 0 or 1 for a single-unit model, whose class 0 is the negated score)."""
        with tf.GradientTape() as tape:
            # Watching the inputs records every op after them, frozen layers included.
            tape.watch([value for value in inputs.values() if value.dtype.is_floating])
            features, scores = self._scores(inputs)
            if scores.shape[-1] == 1:
                target = tf.where(class_index == 0, -scores[:, 0], scores[:, 0])
            else:
                target = tf.gather(scores, class_index, axis=-1, batch_dims=1)
        gradients = tape.gradient(target, features)
        channel_weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(features * channel_weights, axis=-1))
        peak = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
        return tf.math.divide_no_nan(cam, peak)

    def predicted_classes(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """[batch] each example's predicted class (0 or 1 for a single unit)."""
        _, scores = self._scores(inputs)
        if scores.shape[-1] == 1:
            threshold = 0.0 if self.logits else 0.5  # a logit's 0 is a probability's 0.5
            return tf.cast(scores[:, 0] > threshold, tf.int64)
        return tf.argmax(scores, axis=-1)


def grad_cam(
    model: tf.keras.Model,
    inputs: dict[str, tf.Tensor],
    layer_name: str = FEATURE_MAP_LAYER,
    class_index: int | None = None,
) -> np.ndarray:
    """[batch, h', w'] Grad-CAM maps of the layer `layer_name`, each scaled to [0, 1]
    (all zeros where nothing raises the score).

    A single-unit (sigmoid) model explains the positive class, or the negative one for
    class_index=0; a multi-class model explains `class_index`, by default each image's
    predicted class.
    """
    inputs = {name: tf.convert_to_tensor(value) for name, value in inputs.items()}
    explainer = GradCam(model, layer_name)
    batch = tf.shape(next(iter(inputs.values())))[0]
    single_unit = model.output.shape[-1] == 1
    if class_index is None:
        classes = tf.ones([batch], tf.int64) if single_unit else explainer.predicted_classes(inputs)
    else:
        if single_unit and class_index not in (0, 1):
            raise ValueError(f"a single-unit model has classes 0 and 1, not {class_index}")
        classes = tf.fill([batch], tf.constant(class_index, tf.int64))
    return explainer.maps(inputs, classes).numpy()


def decoded(encoded: bytes, channels: int) -> Image.Image:
    """An encoded PNG/JPEG as the model's channels see it: grey for one, else RGB (what
    every overlay is drawn on)."""
    return Image.open(io.BytesIO(encoded)).convert("L" if channels == 1 else "RGB")


def _jet(heat: np.ndarray) -> np.ndarray:
    """[h, w] values in [0, 1] -> [h, w, 3] uint8 colours, dark blue through green and
    yellow to dark red (the piecewise-linear approximation of matplotlib's jet)."""
    scaled = 4.0 * np.clip(heat, 0.0, 1.0)[..., np.newaxis]
    centres = np.array([3.0, 2.0, 1.0])  # where red, green and blue peak
    return (255 * np.clip(1.5 - np.abs(scaled - centres), 0.0, 1.0)).astype(np.uint8)


def overlay(
    image: np.ndarray, heat: np.ndarray, alpha: float = 0.45, size: int = 224
) -> Image.Image:
    """`heat` ([h', w'] in [0, 1]) coloured and blended over `image` (uint8 HxW or HxWxC,
    grey or RGB), resized so its longer side is `size` pixels; an RGB image."""
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    base = Image.fromarray(pixels).convert("RGB")
    scale = size / max(base.size)
    target = (max(1, round(base.width * scale)), max(1, round(base.height * scale)))
    base = base.resize(target, Image.Resampling.BILINEAR)
    # The heat map covers the whole image whatever its aspect: Transform resized the
    # image to the model's size without keeping it, so stretching back is exact.
    heat_image = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F")
    upsampled = np.asarray(heat_image.resize(target, Image.Resampling.BILINEAR))
    blended = (1.0 - alpha) * np.asarray(base, np.float32) + alpha * _jet(upsampled)
    return Image.fromarray(np.round(blended).astype(np.uint8), mode="RGB")


def captioned(image: Image.Image, caption: str) -> Image.Image:
    """`image` with `caption` in white on a dark band along its bottom edge, so a heat
    map read on its own still says what it shows (PIL's built-in font: nothing to load)."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    out = image.copy()
    draw = ImageDraw.Draw(out)
    _, top, _, bottom = draw.textbbox((0, 0), caption, font=font)
    band = bottom - top + 6
    draw.rectangle([(0, out.height - band), (out.width, out.height)], fill=(0, 0, 0))
    draw.text((3, out.height - band + 3 - top), caption, fill=(255, 255, 255), font=font)
    return out
