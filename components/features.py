"""Names that the Transform graph, the Trainer and the Evaluator must agree on."""

from __future__ import annotations

import json

from aet.config import DomainConfig
from aet.config.kinds import kind_of

CUSTOM_CONFIG_KEY = "domain_config"
RESUME_ROOT_KEY = "resume_root"
LABEL_VOCABULARY = "label_counts"


def transformed_name(name: str) -> str:
    """Transform outputs that feed the model carry an `_xf` suffix; derived slices do not."""
    return f"{name}_xf"


def label_key(config: DomainConfig) -> str:
    """The transformed label (the class index, or a recommender's target item id)."""
    return kind_of(config).label_key(config)


def to_custom_config(config: DomainConfig, resume_root: str | None = None) -> dict[str, str]:
    """The domain config in the JSON form TFX passes to Transform and Trainer executors,
    and for the Trainer the folder its resume checkpoints live under: outside its own
    output, which is new for every execution, so a restarted Trainer finds them."""
    custom_config = {CUSTOM_CONFIG_KEY: config.json()}
    if resume_root is not None:
        custom_config[RESUME_ROOT_KEY] = resume_root
    return custom_config


def from_custom_config(custom_config: dict) -> DomainConfig:
    return DomainConfig.parse_obj(json.loads(custom_config[CUSTOM_CONFIG_KEY]))
