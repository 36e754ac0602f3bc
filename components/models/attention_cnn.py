"""Attention CNN for small images: a convolutional stem finds local patterns, a
transformer relates them across the whole image, and a pooled head classifies.

Design:
- Each stem stage is Conv-BN-ReLU, then CBAM (Woo et al., 2018, "Convolutional Block
  Attention Module"): channel attention picks which filters matter, spatial attention
  where, at a few hundred weights per stage, before the map is halved.
- Pooling uses "same" padding: an odd-sized map keeps its last row and column (a finding
  at the border is not cropped away) and a map never shrinks to zero.
- The last stem convolution's output is the layer FEATURE_MAP_LAYER, the deepest map
  that is still spatial: Grad-CAM reads it by name (components/heat_maps/grad_cam.py).
- Its positions become tokens with a learned position embedding, so the transformer
  can relate distant regions (e.g. both lungs) that a few 3x3 convolutions cannot.
  Attention cost grows with the square of the token count, ceil(H / 2^n) * ceil(W / 2^n)
  for n = len(conv_filters): pick conv_filters so it stays in the hundreds.
- Augmentation is the first layer and only runs when training (training=None counts as
  inference, unlike Keras' preprocessing layers), so serving and evaluation never see it.
- Every dropout is a VariableDropout, so the elastic regularisation can move them all.
"""

from __future__ import annotations

import tensorflow as tf

from aet.components.attention import transformer_encoder
from aet.components.layers import VariableDropout
from aet.config import ImageConfig, ModelConfig

FEATURE_MAP_LAYER = "feature_map"
# Keras' default 0.99 needs hundreds of batches before the moving statistics used at
# inference match the batch ones; small image sets give a few dozen an epoch.
BATCH_NORM_MOMENTUM = 0.9
# Pixels are z-scored over the whole training set, so 0 is the mean intensity: shifted
# or rotated-in corners carry no signal. "reflect" would mirror content in, e.g. a
# border lesion or a scanner marker twice, a pattern that never occurs in real images.
FILL_MODE = "constant"


@tf.keras.utils.register_keras_serializable(package="aet")
class ImageAugmentation(tf.keras.layers.Layer):
    """Random flip, rotation, shift and per-image contrast of z-scored images, applied
    only when training (training=None reads the learning phase, as VariableDropout does).

    Keras' RandomContrast clips to [0, 255], which would zero every below-mean pixel of
    a z-scored image, and draws one factor per batch; contrast here is
    (x - mean) * factor + mean per image and channel, with one factor per image.
    """

    def __init__(
        self,
        horizontal_flip: bool = False,
        rotation: float = 0.0,
        translation: float = 0.0,
        contrast: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.horizontal_flip = horizontal_flip
        self.rotation = rotation
        self.translation = translation
        self.contrast = contrast
        self.geometric = []
        if horizontal_flip:
            self.geometric.append(tf.keras.layers.RandomFlip("horizontal"))
        if rotation > 0:
            self.geometric.append(tf.keras.layers.RandomRotation(rotation, fill_mode=FILL_MODE))
        if translation > 0:
            self.geometric.append(
                tf.keras.layers.RandomTranslation(translation, translation, fill_mode=FILL_MODE)
            )

    def call(self, images: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if training is None:
            training = tf.keras.backend.learning_phase()
        return tf.__internal__.smart_cond.smart_cond(
            training, lambda: self._augment(images), lambda: tf.identity(images)
        )

    def _augment(self, images: tf.Tensor) -> tf.Tensor:
        for layer in self.geometric:
            images = layer(images, training=True)
        if self.contrast > 0:
            factor = tf.random.uniform(
                [tf.shape(images)[0], 1, 1, 1], 1.0 - self.contrast, 1.0 + self.contrast
            )
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            images = (images - mean) * factor + mean
        return images

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "horizontal_flip": self.horizontal_flip,
            "rotation": self.rotation,
            "translation": self.translation,
            "contrast": self.contrast,
        }


@tf.keras.utils.register_keras_serializable(package="aet")
class ChannelSpatialAttention(tf.keras.layers.Layer):
    """CBAM: x * channel gate, then * spatial gate.

    The channel gate is sigmoid(MLP(avg-pool(x)) + MLP(max-pool(x))) with one shared
    2-layer MLP; the spatial gate is sigmoid(conv_k x k([mean_c(x), max_c(x)])).
    The paper's reduction of 16 suits 256+ channels; these stems have 8-64, so 4.
    """

    def __init__(self, reduction: int = 4, kernel_size: int = 7, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reduction = reduction
        self.kernel_size = kernel_size

    def build(self, input_shape: tf.TensorShape) -> None:
        channels = int(input_shape[-1])
        hidden = max(1, channels // self.reduction)
        # Built here, with their shapes, so a reloaded model restores their weights; each
        # in its own name scope, so that no two variables share a name (tensorflow-addons'
        # MultiOptimizer, which the unfreezing stages use, tells variables by name).
        self.squeeze = tf.keras.layers.Dense(hidden, activation="relu", name="squeeze")
        self.excite = tf.keras.layers.Dense(channels, name="excite")
        self.spatial = tf.keras.layers.Conv2D(
            1, self.kernel_size, padding="same", activation="sigmoid", name="spatial"
        )
        for layer, shape in (
            (self.squeeze, (None, channels)),
            (self.excite, (None, hidden)),
            (self.spatial, (None, None, None, 2)),
        ):
            with tf.name_scope(layer.name):
                layer.build(shape)
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        pooled = [tf.reduce_mean(inputs, axis=[1, 2]), tf.reduce_max(inputs, axis=[1, 2])]
        channel_gate = tf.sigmoid(sum(self.excite(self.squeeze(p)) for p in pooled))
        x = inputs * channel_gate[:, tf.newaxis, tf.newaxis, :]
        summary = tf.concat(
            [tf.reduce_mean(x, axis=-1, keepdims=True), tf.reduce_max(x, axis=-1, keepdims=True)],
            axis=-1,
        )
        return x * self.spatial(summary)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "kernel_size": self.kernel_size,
        }


@tf.keras.utils.register_keras_serializable(package="aet")
class PatchTokens(tf.keras.layers.Layer):
    """An H x W x C feature map as H*W tokens of width C, plus a learned position embedding."""

    def build(self, input_shape: tf.TensorShape) -> None:
        _, height, width, channels = input_shape
        self.positions = self.add_weight(
            name="positions",
            shape=(height * width, channels),
            initializer=tf.keras.initializers.RandomNormal(stddev=0.02),
        )
        super().build(input_shape)

    def call(self, feature_map: tf.Tensor) -> tf.Tensor:
        _, height, width, channels = feature_map.shape
        return tf.reshape(feature_map, (-1, height * width, channels)) + self.positions


def _conv_bn_relu(
    x: tf.Tensor, filters: int, name: str, output_name: str | None = None
) -> tf.Tensor:
    x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn")(x)
    return tf.keras.layers.ReLU(name=output_name or f"{name}_relu")(x)


def build_attention_cnn(
    image: ImageConfig, config: ModelConfig, num_classes: int, input_name: str
) -> tf.keras.Model:
    """The attention CNN (not compiled) over one z-scored image input named `input_name`.

    Binary tasks get one sigmoid unit, multi-class tasks a softmax over `num_classes`.
    """
    inputs = tf.keras.Input((image.height, image.width, image.channels), name=input_name)
    x = inputs
    augmentation = config.augmentation
    if (
        augmentation.horizontal_flip
        or augmentation.rotation
        or augmentation.translation
        or augmentation.contrast
    ):
        x = ImageAugmentation(
            horizontal_flip=augmentation.horizontal_flip,
            rotation=augmentation.rotation,
            translation=augmentation.translation,
            contrast=augmentation.contrast,
            name="augmentation",
        )(x)
    for index, filters in enumerate(config.conv_filters):
        x = _conv_bn_relu(x, filters, f"stem_{index}")
        x = ChannelSpatialAttention(name=f"stem_{index}_attention")(x)
        x = tf.keras.layers.MaxPool2D(2, padding="same", name=f"stem_{index}_pool")(x)
    x = _conv_bn_relu(x, config.embedding_dim, "feature", output_name=FEATURE_MAP_LAYER)
    x = PatchTokens(name="tokens")(x)
    x = transformer_encoder(x, config)
    x = tf.keras.layers.LayerNormalization(epsilon=1e-6, name="head_norm")(x)
    x = tf.keras.layers.GlobalAveragePooling1D(name="token_pool")(x)
    x = VariableDropout(config.dropout, name="head_dropout")(x)
    if num_classes == 2:
        output = tf.keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    else:
        output = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model({input_name: inputs}, output, name="attention_cnn")
