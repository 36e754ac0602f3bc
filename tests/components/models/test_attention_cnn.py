"""`components.models.attention_cnn.build_attention_cnn` on small synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.elastic.regularisation import variable_dropouts
from aet.components.elastic.unfreezing import unfreezing_groups
from aet.components.evaluation import load_keras_model
from aet.components.layers import VariableDropout
from aet.components.models.attention_cnn import (
    FEATURE_MAP_LAYER,
    ChannelSpatialAttention,
    ImageAugmentation,
    PatchTokens,
    build_attention_cnn,
)
from aet.config import AugmentationConfig, ImageConfig, ModelConfig

INPUT = "image_xf"
GREY = ImageConfig(height=16, width=16, channels=1)
NO_AUGMENTATION = AugmentationConfig(horizontal_flip=False, rotation=0, contrast=0, translation=0)
ALL_AUGMENTATION = AugmentationConfig(
    horizontal_flip=True, rotation=0.1, contrast=0.3, translation=0.1
)


def _config(**overrides) -> ModelConfig:
    settings = {
        "architecture": "attention_cnn",
        "embedding_dim": 8,
        "num_layers": 1,
        "num_heads": 2,
        "conv_filters": [8, 8],
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "augmentation": NO_AUGMENTATION,
        **overrides,
    }
    return ModelConfig(**settings)


def _images(n: int, image: ImageConfig = GREY, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n, image.height, image.width, image.channels)
    return {INPUT: rng.normal(size=shape).astype(np.float32)}


def test_binary_head_is_one_sigmoid_probability():
    model = build_attention_cnn(GREY, _config(), 2, INPUT)
    out = model(_images(5), training=False).numpy()
    assert out.shape == (5, 1)
    assert np.all((out > 0) & (out < 1))
    assert model.layers[-1].name == "probability"


def test_multiclass_head_is_a_softmax_over_the_classes():
    model = build_attention_cnn(GREY, _config(), 3, INPUT)
    out = model(_images(4), training=False).numpy()
    assert out.shape == (4, 3)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[-1].name == "probabilities"


@pytest.mark.parametrize(
    ("image", "conv_filters", "feature_size"),
    [
        # Odd sizes keep their last row and column: 30 -> 15 -> 8, not 15 -> 7.
        (ImageConfig(height=30, width=30, channels=3), [8, 8], (8, 8)),
        (ImageConfig(height=9, width=13, channels=1), [4, 4], (3, 4)),
        # More halvings than the image has pixels for still leave one position.
        (ImageConfig(height=8, width=8, channels=3), [4, 4, 4, 4], (1, 1)),
    ],
)
def test_any_size_and_channel_count_gives_one_token_per_feature_map_position(
    image, conv_filters, feature_size
):
    model = build_attention_cnn(image, _config(conv_filters=conv_filters), 2, INPUT)
    assert list(model.input) == [INPUT]
    assert tuple(model.input[INPUT].shape) == (None, image.height, image.width, image.channels)
    feature_map = model.get_layer(FEATURE_MAP_LAYER)
    assert tuple(feature_map.output.shape) == (None, *feature_size, 8)
    model(_images(2, image), training=False)
    block = model.get_layer("transformer_0")
    tokens = feature_size[0] * feature_size[1]
    assert tuple(block.last_attention_scores.shape) == (2, 2, tokens, tokens)


def test_config_sizes_are_honoured():
    config = _config(embedding_dim=16, num_layers=3, num_heads=4, conv_filters=[4, 8, 12])
    model = build_attention_cnn(GREY, config, 2, INPUT)
    convs = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [4, 8, 12, 16]
    assert sum(isinstance(layer, ChannelSpatialAttention) for layer in model.layers) == 3
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    assert [(b.embedding_dim, b.num_heads) for b in blocks] == [(16, 4)] * 3


def test_augmentation_runs_in_training_only():
    model = build_attention_cnn(GREY, _config(augmentation=ALL_AUGMENTATION), 2, INPUT)
    batch = _images(8)
    inference = model(batch, training=False).numpy()
    np.testing.assert_array_equal(model(batch, training=False).numpy(), inference)
    # Unlike Keras' preprocessing layers, a call that does not say "training" is inference.
    np.testing.assert_array_equal(model(batch).numpy(), inference)
    np.testing.assert_allclose(model.predict(batch, verbose=0), inference, rtol=1e-5)
    first, second = model(batch, training=True).numpy(), model(batch, training=True).numpy()
    assert np.abs(first - second).max() > 1e-4


def test_without_augmentation_there_is_no_stage_and_training_is_deterministic():
    model = build_attention_cnn(GREY, _config(), 2, INPUT)
    assert not any(isinstance(layer, ImageAugmentation) for layer in model.layers)
    batch = _images(8)
    # The control for the test above: with dropout 0, only augmentation is random.
    np.testing.assert_array_equal(
        model(batch, training=True).numpy(), model(batch, training=True).numpy()
    )


def test_contrast_keeps_z_scored_pixels_and_varies_per_image():
    images = tf.constant(_images(6)[INPUT])
    out = ImageAugmentation(contrast=0.5)(images, training=True).numpy()
    # Keras' RandomContrast would clip every negative (below-mean) pixel to 0.
    assert (out < 0).mean() > 0.3
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.numpy().mean(axis=(1, 2)), atol=1e-5)
    factors = out.std(axis=(1, 2, 3)) / images.numpy().std(axis=(1, 2, 3))
    assert np.all((factors >= 0.5 - 1e-4) & (factors <= 1.5 + 1e-4))
    assert np.ptp(factors) > 0.05


def test_saved_model_reloads_with_load_keras_model_and_the_same_predictions(tmp_path):
    config = _config(
        num_layers=2, dropout=0.2, attention_dropout=0.1, augmentation=ALL_AUGMENTATION
    )
    image = ImageConfig(height=15, width=15, channels=3)
    model = build_attention_cnn(image, config, 3, INPUT)
    model(_images(16, image, seed=1), training=True)  # moves the batch-norm statistics
    batch = _images(5, image, seed=2)
    expected = model(batch, training=False).numpy()
    path = tmp_path / "model"
    model.save(path, save_format="tf")
    restored = load_keras_model(str(path))
    # Rebuilt from the config through the registered layers, not generic restored layers.
    assert isinstance(restored.get_layer("augmentation"), ImageAugmentation)
    assert restored.get_layer("augmentation").get_config()["contrast"] == 0.3
    assert isinstance(restored.get_layer("stem_1_attention"), ChannelSpatialAttention)
    assert isinstance(restored.get_layer("tokens"), PatchTokens)
    assert isinstance(restored.get_layer("head_dropout"), VariableDropout)
    np.testing.assert_allclose(restored(batch, training=False).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(restored.predict(batch, verbose=0), expected, rtol=1e-5)


def test_unfreezing_starts_at_the_head_and_ends_at_the_convolutional_stem():
    model = build_attention_cnn(GREY, _config(num_layers=2), 2, INPUT)
    groups = [[layer.name for layer in group] for group in unfreezing_groups(model)]
    assert groups[0] == ["head_norm", "head_dropout", "probability"]
    assert groups[1:3] == [["transformer_1"], ["transformer_0"]]
    stem = groups[-1]
    assert len(groups) == 4
    assert {"stem_0_conv", "stem_1_conv", "feature_conv", "stem_0_attention", "tokens"} <= set(stem)
    convs = [layer.name for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert set(convs) <= set(stem)


def test_every_dropout_is_a_variable_dropout():
    config = _config(num_layers=2, dropout=0.3)
    model = build_attention_cnn(GREY, config, 2, INPUT)
    model(_images(2), training=False)
    # MultiHeadAttention's own dropout of the attention weights (attention_dropout) is
    # Keras' and is not one of the model's dropouts.
    internal = {
        id(module._dropout_layer)
        for module in model.submodules
        if isinstance(module, tf.keras.layers.MultiHeadAttention)
    }
    dropouts = [
        module
        for module in model.submodules
        if "dropout" in type(module).__name__.lower() and id(module) not in internal
    ]
    assert all(isinstance(module, VariableDropout) for module in dropouts)
    # Three in each transformer block, one in the head: all of them elastic.
    assert len(dropouts) == 3 * config.num_layers + 1 == len(variable_dropouts(model))
