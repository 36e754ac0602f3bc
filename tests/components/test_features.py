"""The config TFX hands the Transform, Tuner and Trainer executors: what a model depends
on, so that TFX's cache transforms and trains again only when that changes."""

from __future__ import annotations

import pytest

from aet.components.features import AFTER_TRAINING, from_custom_config, to_custom_config
from aet.config import DomainConfig, load_config


def _with(config: DomainConfig, *assignments: str) -> DomainConfig:
    return load_config(config.source_dir / "config.yaml", list(assignments))


@pytest.mark.parametrize(
    "change",
    [
        ("serving.check.latency_budget_ms=0.001", "serving.check.warmup_examples=2"),
        ("serving.versions=5", "serving.server_root=/srv/models"),
        ("serving.batching.max_batch_size=8",),
        ("evaluation.change_thresholds={}", "evaluation.explained_examples=5"),
        ("tuning.reuse_last=true",),
    ],
)
def test_a_change_to_what_judges_a_trained_model_keeps_the_executors_config(
    finance_config, change
) -> None:
    assert to_custom_config(_with(finance_config, *change)) == to_custom_config(finance_config)


@pytest.mark.parametrize(
    "change",
    [
        "training.learning_rate=0.01",
        "model.embedding_dim=8",
        "data.splits={train: 0.8, eval: 0.1, test: 0.1}",
        "serving.top_k=3",  # a recommender's signature returns top_k items
        "evaluation.exclude_seen=false",  # and leaves out the items already seen
    ],
)
def test_a_change_to_what_shapes_the_model_changes_the_executors_config(
    finance_config, change
) -> None:
    assert to_custom_config(_with(finance_config, change)) != to_custom_config(finance_config)


def test_the_executors_read_the_config_back_with_the_judging_settings_at_their_defaults(
    finance_config,
) -> None:
    changed = _with(finance_config, "serving.check.latency_budget_ms=0.001")
    read = from_custom_config(to_custom_config(changed))
    assert read.serving.check == type(changed.serving.check)()
    for section in ("data", "features", "model", "training"):
        assert getattr(read, section) == getattr(changed, section)
    for section, left_out in AFTER_TRAINING.items():
        kept = set(getattr(changed, section).__fields__) - set(left_out)
        assert getattr(read, section).dict(include=kept) == getattr(changed, section).dict(
            include=kept
        )
