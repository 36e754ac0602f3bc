"""Names that the Transform graph, the Trainer and the Evaluator must agree on."""

from __future__ import annotations

import json

from pipelines.config import DomainConfig

CUSTOM_CONFIG_KEY = "domain_config"
LABEL_VOCABULARY = "label_counts"


def transformed_name(name: str) -> str:
    """Transform outputs that feed the model carry an `_xf` suffix; derived slices do not."""
    return f"{name}_xf"


def label_key(config: DomainConfig) -> str:
    return transformed_name(config.features.label.name)


def to_custom_config(config: DomainConfig) -> dict[str, str]:
    """The domain config in the JSON form TFX passes to Transform and Trainer executors."""
    return {CUSTOM_CONFIG_KEY: config.json()}


def from_custom_config(custom_config: dict) -> DomainConfig:
    return DomainConfig.parse_obj(json.loads(custom_config[CUSTOM_CONFIG_KEY]))
