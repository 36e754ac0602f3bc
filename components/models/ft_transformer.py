"""FT-Transformer for tabular data (Gorishniy et al., 2021, "Revisiting Deep Learning
Models for Tabular Data"): every feature becomes a token, a CLS token is prepended, a
small transformer encoder mixes them, and the CLS state feeds the classifier head."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from aet.components.attention import transformer_encoder
from aet.config import ModelConfig


@dataclass(frozen=True)
class TabularInputs:
    """The model's input columns: numeric names and categorical names with vocab sizes."""

    numeric: list[str]
    categorical: dict[str, int]


def input_layers(
    inputs: TabularInputs, input_name: Callable[[str], str] = str
) -> tuple[dict[str, tf.Tensor], list[tf.Tensor], dict[str, tf.Tensor]]:
    """Every model input by its name, then the numeric ones in order and the
    categorical ones (int64 ids) by feature: what every tabular architecture reads."""
    named: dict[str, tf.Tensor] = {}
    numeric, categorical = [], {}
    for name in inputs.numeric:
        named[input_name(name)] = tf.keras.Input((1,), name=input_name(name))
        numeric.append(named[input_name(name)])
    for name in inputs.categorical:
        named[input_name(name)] = tf.keras.Input((1,), name=input_name(name), dtype=tf.int64)
        categorical[name] = named[input_name(name)]
    return named, numeric, categorical


@tf.keras.utils.register_keras_serializable(package="aet")
class NumericTokenizer(tf.keras.layers.Layer):
    """Turns F scalar features [batch, F] into F tokens [batch, F, d]: x_j * w_j + b_j."""

    def __init__(self, embedding_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim

    def build(self, input_shape: tf.TensorShape) -> None:
        num_features = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(num_features, self.embedding_dim), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(
            name="bias", shape=(num_features, self.embedding_dim), initializer="zeros"
        )

    def call(self, values: tf.Tensor) -> tf.Tensor:
        return values[..., tf.newaxis] * self.kernel + self.bias

    def get_config(self) -> dict:
        return {**super().get_config(), "embedding_dim": self.embedding_dim}


@tf.keras.utils.register_keras_serializable(package="aet")
class ClsToken(tf.keras.layers.Layer):
    """Prepends one learned token to a token sequence."""

    def build(self, input_shape: tf.TensorShape) -> None:
        self.token = self.add_weight(
            name="token", shape=(1, 1, int(input_shape[-1])), initializer="random_normal"
        )

    def call(self, tokens: tf.Tensor) -> tf.Tensor:
        batch = tf.shape(tokens)[0]
        return tf.concat([tf.tile(self.token, [batch, 1, 1]), tokens], axis=1)


def encoded_features(
    inputs: TabularInputs,
    config: ModelConfig,
    numeric: list[tf.Tensor],
    categorical: dict[str, tf.Tensor],
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The transformer's summary of one row (every feature a token, a CLS token
    prepended, the encoder over them, and the CLS state normalised: what a head reads),
    and each category's token, its embedding `<name>_emb` [batch, 1, d]."""
    token_groups = []
    if numeric:
        stacked = tf.keras.layers.Concatenate(name="numeric_values")(numeric)
        token_groups.append(NumericTokenizer(config.embedding_dim, name="numeric_tokens")(stacked))
    embedded = {}
    for name, vocab_size in inputs.categorical.items():
        embedding = tf.keras.layers.Embedding(vocab_size, config.embedding_dim, name=f"{name}_emb")
        embedded[name] = embedding(categorical[name])
        token_groups.append(embedded[name])
    tokens = (
        token_groups[0]
        if len(token_groups) == 1
        else tf.keras.layers.Concatenate(axis=1, name="tokens")(token_groups)
    )
    x = ClsToken(name="cls")(tokens)
    x = transformer_encoder(x, config)
    cls_state = x[:, 0]
    head = tf.keras.layers.LayerNormalization(name="head_norm")(cls_state)
    return tf.keras.layers.Activation("relu")(head), embedded


def build_ft_transformer(
    inputs: TabularInputs,
    config: ModelConfig,
    num_classes: int,
    input_name: Callable[[str], str] = str,
) -> tf.keras.Model:
    """A compiled-ready (not compiled) FT-Transformer.

    `input_name` maps a feature name to the model input's name (the Transform output).
    Binary tasks get one sigmoid unit, multi-class tasks a softmax over `num_classes`.
    """
    model_inputs, numeric, categorical = input_layers(inputs, input_name)
    head, _ = encoded_features(inputs, config, numeric, categorical)
    if num_classes == 2:
        output = tf.keras.layers.Dense(1, activation="sigmoid", name="probability")(head)
    else:
        output = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(
            head
        )
    return tf.keras.Model(model_inputs, output, name="ft_transformer")
