"""The networks a tabular domain can choose with `model.architecture`, each built from
the config and the Transform output's vocabularies."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.features import transformed_name
from aet.components.models.ft_transformer import TabularInputs, build_ft_transformer
from aet.components.models.logistic_regression import build_logistic_regression
from aet.components.models.wide_and_deep import build_wide_and_deep
from aet.components.preprocessing import NUM_OOV_BUCKETS
from aet.config import DomainConfig


def tabular_inputs(
    config: DomainConfig, tf_transform_output: tft.TFTransformOutput
) -> TabularInputs:
    """The model's input columns, with each category's vocabulary size from Transform."""
    features = config.features
    return TabularInputs(
        numeric=list(features.numeric),
        categorical={
            name: tf_transform_output.vocabulary_size_by_name(name) + NUM_OOV_BUCKETS
            for name in features.categorical
        },
    )


def ft_transformer(config: DomainConfig, tf_transform_output: tft.TFTransformOutput):
    return build_ft_transformer(
        tabular_inputs(config, tf_transform_output),
        config.model,
        len(config.features.label.classes),
        input_name=transformed_name,
    )


def logistic_regression(config: DomainConfig, tf_transform_output: tft.TFTransformOutput):
    return build_logistic_regression(
        tabular_inputs(config, tf_transform_output),
        len(config.features.label.classes),
        input_name=transformed_name,
    )


def wide_and_deep(config: DomainConfig, tf_transform_output: tft.TFTransformOutput):
    return build_wide_and_deep(
        tabular_inputs(config, tf_transform_output),
        config.model,
        len(config.features.label.classes),
        input_name=transformed_name,
    )


NETWORKS: dict[str, Callable[[DomainConfig, tft.TFTransformOutput], tf.keras.Model]] = {
    "ft_transformer": ft_transformer,
    "logistic_regression": logistic_regression,
    "wide_and_deep": wide_and_deep,
}
