"""Keras attention blocks shared by the domains' models."""

from __future__ import annotations

import tensorflow as tf

from aet.components.layers import VariableDropout
from aet.config import ModelConfig


@tf.keras.utils.register_keras_serializable(package="aet")
class TransformerBlock(tf.keras.layers.Layer):
    """Pre-norm transformer encoder block: x + MHA(LN(x)), then x + FFN(LN(x)).

    Pre-norm keeps small tabular and sequence models trainable without warm-up tricks.
    The attention weights of the last call are kept in `last_attention_scores` so that
    monitors can read them without a second forward pass. A `causal` block lets each
    position attend only to itself and earlier ones (a sequence model predicting the
    next item must not see it).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        ffn_multiplier: float = 2.0,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        causal: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.causal = causal
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.ffn_multiplier = ffn_multiplier
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.attention = tf.keras.layers.MultiHeadAttention(
            num_heads=num_heads,
            key_dim=embedding_dim // num_heads,
            dropout=attention_dropout,
        )
        self.attention_output_dropout = VariableDropout(dropout)
        self.ffn_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6)
        self.ffn = tf.keras.Sequential(
            [
                tf.keras.layers.Dense(int(embedding_dim * ffn_multiplier), activation="gelu"),
                VariableDropout(dropout),
                tf.keras.layers.Dense(embedding_dim),
            ]
        )
        self.ffn_output_dropout = VariableDropout(dropout)
        self.last_attention_scores = None

    def build(self, input_shape: tf.TensorShape) -> None:
        # MultiHeadAttention creates its weights on first call, too late for a model
        # reloaded with tf.keras.models.load_model to restore them (it would keep random
        # attention weights); Keras asks custom layers to build it from the signature here.
        self.attention._build_from_signature(query=input_shape, value=input_shape)
        super().build(input_shape)

    def attend(self, inputs: tf.Tensor, training: bool | None = None) -> tuple:
        """Self-attention over the normalised `inputs`: (attended values, weights)."""
        normed = self.attention_norm(inputs)
        return self.attention(
            normed,
            normed,
            return_attention_scores=True,
            training=training,
            use_causal_mask=self.causal,
        )

    def call(self, inputs: tf.Tensor, training: bool | None = None):
        attended, scores = self.attend(inputs, training=training)
        self.last_attention_scores = scores
        x = inputs + self.attention_output_dropout(attended, training=training)
        return x + self.ffn_output_dropout(self.ffn(self.ffn_norm(x)), training=training)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "num_heads": self.num_heads,
            "ffn_multiplier": self.ffn_multiplier,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "causal": self.causal,
        }


def transformer_blocks(model: tf.keras.Model) -> list[TransformerBlock]:
    """The model's TransformerBlocks, first to last."""
    return [layer for layer in model.layers if isinstance(layer, TransformerBlock)]


def last_block_attention(model: tf.keras.Model, inputs) -> tf.Tensor:
    """[batch, heads, queries, keys]: the attention weights of the model's last
    TransformerBlock on `inputs` (what the explanation benchmark compares with the
    attributions)."""
    blocks = transformer_blocks(model)
    if not blocks:
        raise ValueError(f"the model '{model.name}' has no attention to read")
    block_input = tf.keras.Model(model.input, blocks[-1].input)(inputs, training=False)
    _, scores = blocks[-1].attend(block_input, training=False)
    return scores


def transformer_encoder(tokens: tf.Tensor, config: ModelConfig, causal: bool = False) -> tf.Tensor:
    """`config.num_layers` TransformerBlocks over `tokens`, named transformer_0, 1, ...
    (the names warm start and the attention monitor's events refer to)."""
    for index in range(config.num_layers):
        tokens = TransformerBlock(
            config.embedding_dim,
            config.num_heads,
            ffn_multiplier=config.ffn_multiplier,
            dropout=config.dropout,
            attention_dropout=config.attention_dropout,
            causal=causal,
            name=f"transformer_{index}",
        )(tokens)
    return tokens


@tf.keras.utils.register_keras_serializable(package="aet")
class PositionEmbedding(tf.keras.layers.Layer):
    """Adds a learned embedding of each position to [batch, positions, width] tokens."""

    def build(self, input_shape: tf.TensorShape) -> None:
        self.positions = self.add_weight(
            name="positions",
            shape=(input_shape[1], input_shape[2]),
            initializer=tf.keras.initializers.RandomNormal(stddev=0.02),
        )
        super().build(input_shape)

    def call(self, tokens: tf.Tensor) -> tf.Tensor:
        return tokens + self.positions
