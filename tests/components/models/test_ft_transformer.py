"""`components.models.ft_transformer.build_ft_transformer` on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.models.ft_transformer import TabularInputs, build_ft_transformer
from aet.config import ModelConfig

INPUTS = TabularInputs(numeric=["x1", "x2", "x3"], categorical={"colour": 4, "size": 3})
SMALL = ModelConfig(
    embedding_dim=8, num_layers=1, num_heads=2, ffn_multiplier=2.0, dropout=0.0,
    attention_dropout=0.0,
)  # fmt: skip


def _batch(n: int, seed: int = 0, inputs: TabularInputs = INPUTS) -> dict:
    rng = np.random.default_rng(seed)
    batch = {name: rng.normal(size=(n, 1)).astype(np.float32) for name in inputs.numeric}
    for name, size in inputs.categorical.items():
        batch[name] = rng.integers(0, size, size=(n, 1)).astype(np.int64)
    return batch


def _blocks(model: tf.keras.Model) -> list[TransformerBlock]:
    return [layer for layer in model.layers if isinstance(layer, TransformerBlock)]


def test_binary_head_is_one_sigmoid_probability():
    model = build_ft_transformer(INPUTS, SMALL, num_classes=2)
    out = model(_batch(7), training=False).numpy()
    assert out.shape == (7, 1)
    assert np.all((out >= 0) & (out <= 1))
    assert model.layers[-1].name == "probability"


def test_multiclass_head_is_a_softmax_over_the_classes():
    model = build_ft_transformer(INPUTS, SMALL, num_classes=3)
    out = model(_batch(5), training=False).numpy()
    assert out.shape == (5, 3)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[-1].name == "probabilities"


def test_model_inputs_are_named_by_input_name_with_their_dtypes():
    model = build_ft_transformer(INPUTS, SMALL, 2, input_name=lambda name: f"{name}_xf")
    assert set(model.input) == {"x1_xf", "x2_xf", "x3_xf", "colour_xf", "size_xf"}
    assert model.input["x1_xf"].dtype == tf.float32
    assert model.input["colour_xf"].dtype == tf.int64


def test_one_token_per_feature_plus_cls():
    model = build_ft_transformer(INPUTS, SMALL, 2)
    model(_batch(4), training=False)
    (block,) = _blocks(model)
    tokens = len(INPUTS.numeric) + len(INPUTS.categorical) + 1
    # [batch, heads, query tokens, key tokens]
    assert tuple(block.last_attention_scores.shape) == (4, SMALL.num_heads, tokens, tokens)
    assert tuple(block.output.shape) == (None, tokens, SMALL.embedding_dim)


def test_numeric_only_and_categorical_only_tables_work():
    for inputs in (
        TabularInputs(numeric=["a", "b"], categorical={}),
        TabularInputs(numeric=[], categorical={"c": 5}),
    ):
        model = build_ft_transformer(inputs, SMALL, 2)
        model(_batch(3, inputs=inputs), training=False)
        tokens = len(inputs.numeric) + len(inputs.categorical) + 1
        assert _blocks(model)[0].last_attention_scores.shape[-1] == tokens


@pytest.mark.parametrize(("embedding_dim", "num_layers", "num_heads"), [(8, 1, 2), (16, 3, 4)])
def test_model_config_sizes_are_honoured(embedding_dim, num_layers, num_heads):
    config = ModelConfig(embedding_dim=embedding_dim, num_layers=num_layers, num_heads=num_heads)
    model = build_ft_transformer(INPUTS, config, 2)
    blocks = _blocks(model)
    assert len(blocks) == num_layers
    for block in blocks:
        assert block.embedding_dim == embedding_dim
        assert block.attention._num_heads == num_heads
        assert block.attention._key_dim == embedding_dim // num_heads
    for name, vocab_size in INPUTS.categorical.items():
        embedding = model.get_layer(f"{name}_emb")
        assert embedding.input_dim == vocab_size
        assert embedding.output_dim == embedding_dim
    assert model.get_layer("numeric_tokens").kernel.shape == (len(INPUTS.numeric), embedding_dim)


def test_dropout_is_only_active_in_training():
    config = ModelConfig(embedding_dim=8, num_layers=1, num_heads=2, dropout=0.5)
    model = build_ft_transformer(INPUTS, config, 2)
    batch = _batch(16)
    np.testing.assert_allclose(model(batch, training=False), model(batch, training=False))
    assert not np.allclose(model(batch, training=True), model(batch, training=True))


def _rule(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """Label depends on a numeric feature and one categorical value, with a clear margin."""
    batch = _batch(n, seed)
    score = 2.0 * batch["x1"][:, 0] + 3.0 * (batch["colour"][:, 0] == 2) - 1.0
    return batch, (score > 0).astype(np.float32)


def test_learns_a_simple_rule():
    tf.keras.utils.set_random_seed(1)
    model = build_ft_transformer(INPUTS, SMALL, 2)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss="binary_crossentropy",
        metrics=[tf.keras.metrics.AUC(name="auc")],
    )
    x, y = _rule(1024, seed=1)
    history = model.fit(x, y, epochs=8, batch_size=64, verbose=0).history
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    x_test, y_test = _rule(512, seed=2)
    result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert result["auc"] > 0.9


def test_saved_model_reloads_with_the_same_predictions(tmp_path):
    config = ModelConfig(embedding_dim=8, num_layers=2, num_heads=2)
    model = build_ft_transformer(INPUTS, config, 2)
    batch = _batch(6, seed=3)
    expected = model(batch, training=False).numpy()
    path = tmp_path / "model"
    model.save(path, save_format="tf")
    restored = tf.keras.models.load_model(path)
    # Rebuilt from the config through the registered layers, not a generic restored layer.
    assert len(_blocks(restored)) == 2
    assert type(restored.get_layer("cls")).__name__ == "ClsToken"
    assert type(restored.get_layer("numeric_tokens")).__name__ == "NumericTokenizer"
    np.testing.assert_allclose(restored(batch, training=False).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(restored.predict(batch, verbose=0), expected, rtol=1e-5)
