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


# Settings that only the components after training read: the Evaluator's change
# thresholds, how many examples the Explanations component asks about, the serving
# check, the model server's files, and whether the pipeline
# wires in the last tuned hyperparameters. TFX fingerprints an executor's custom_config
# for its cache, so they stay out of the config handed to Transform, Tuner and Trainer:
# a run that changes only these reuses the transformed data and the trained model and
# judges it again. Those executors see the schema's defaults there. (The absolute
# thresholds stay in: the schema requires at least one.)
AFTER_TRAINING = {
    "evaluation": ("change_thresholds", "explained_examples"),
    "serving": ("check", "batching", "versions", "server_root"),
    "tuning": ("reuse_last",),
}


def to_custom_config(config: DomainConfig, resume_root: str | None = None) -> dict[str, str]:
    """The domain config in the JSON form TFX passes to Transform, Tuner and Trainer
    executors, without the AFTER_TRAINING settings; for the Trainer, also the folder its
    resume checkpoints live under: outside its own output, which is new for every
    execution, so a restarted Trainer finds them."""
    raw = json.loads(config.json())
    for section, fields in AFTER_TRAINING.items():
        for name in fields:
            raw[section].pop(name, None)
    custom_config = {CUSTOM_CONFIG_KEY: json.dumps(raw, sort_keys=True)}
    if resume_root is not None:
        custom_config[RESUME_ROOT_KEY] = resume_root
    return custom_config


def from_custom_config(custom_config: dict) -> DomainConfig:
    return DomainConfig.parse_obj(json.loads(custom_config[CUSTOM_CONFIG_KEY]))
