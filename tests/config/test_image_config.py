"""The image parts of the config schema: the shipped medical_imaging config, settings
that apply only to the default data, and image-specific mistakes named by field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from aet.config import ConfigError, load_config
from aet.pipelines.domains import load_domain
from tests.conftest import config_error_line, shipped_raw_config


@pytest.fixture
def imaging_raw() -> dict:
    return shipped_raw_config("medical_imaging")


def test_shipped_medical_imaging_config_loads() -> None:
    config = load_domain("medical_imaging")
    assert config.data.format == "images"
    assert config.model.architecture == "attention_cnn"
    assert (config.features.image.height, config.features.image.width) == (28, 28)
    assert config.features.label.classes == ["normal", "pneumonia"]
    assert {"sensitivity", "specificity", "auc", "accuracy"} <= set(config.evaluation.metrics)


def test_default_set_applies_only_to_the_default_data_and_the_user_still_wins() -> None:
    real = load_domain("medical_imaging")
    default = load_domain("medical_imaging", default_data=True)
    assert real.evaluation.thresholds["auc"].lower == 0.9
    assert default.evaluation.thresholds["auc"].lower == 0.0
    assert default.data.splits == {"train": 0.6, "eval": 0.2, "test": 0.2}
    assert default.training.train_steps < real.training.train_steps
    overridden = load_domain("medical_imaging", ["training.train_steps=6"], default_data=True)
    assert overridden.training.train_steps == 6


def _images_without_image_feature(raw: dict) -> None:
    del raw["features"]["image"]


def _csv_format_with_image(raw: dict) -> None:
    raw["data"]["format"] = "csv"


def _tabular_model_for_images(raw: dict) -> None:
    raw["model"]["architecture"] = "ft_transformer"


def _rule_for_unknown_class(raw: dict) -> None:
    raw["data"]["label_rules"][1]["label"] = "covid"


def _bad_regular_expression(raw: dict) -> None:
    raw["data"]["label_rules"][0]["pattern"] = "(unclosed"


def _image_with_numeric_features(raw: dict) -> None:
    raw["features"]["numeric"] = ["age"]


def _three_channels_and_a_half(raw: dict) -> None:
    raw["features"]["image"]["channels"] = 2


def _per_class_on_binary(raw: dict) -> None:
    raw["evaluation"]["per_class"] = True


def _bad_share(raw: dict) -> None:
    raw["data"]["max_bad_share"] = 1.5


def _empty_conv_filters(raw: dict) -> None:
    raw["model"]["conv_filters"] = []


BAD_IMAGE_CONFIGS: dict[str, tuple[Callable[[dict], None], str, str]] = {
    "images without features.image": (
        _images_without_image_feature,
        "features",
        "numeric, categorical or image feature is required",
    ),
    "an image feature with csv data": (
        _csv_format_with_image,
        "features.image",
        "is for image data; data.format 'csv' reads table rows",
    ),
    "tabular model for images": (
        _tabular_model_for_images,
        "model.architecture",
        "choose one of ['attention_cnn']",
    ),
    "rule for an unknown class": (
        _rule_for_unknown_class,
        "data.label_rules.1.label",
        "'covid' is not one of",
    ),
    "bad regular expression": (
        _bad_regular_expression,
        "data.label_rules.0.pattern",
        "not a regular expression",
    ),
    "image with numeric features": (
        _image_with_numeric_features,
        "features.image",
        "no numeric, categorical or bucket features",
    ),
    "two channels": (_three_channels_and_a_half, "features.image.channels", "permitted"),
    "per-class on a binary label": (_per_class_on_binary, "evaluation.per_class", "multi-class"),
    "bad-file share above 1": (_bad_share, "data.max_bad_share", "less than 1"),
    "no conv blocks": (_empty_conv_filters, "model.conv_filters", "at least 1"),
}


@pytest.mark.parametrize("case", BAD_IMAGE_CONFIGS)
def test_bad_image_config_names_the_field(case: str, imaging_raw: dict, tmp_path: Path) -> None:
    mutate, field, problem = BAD_IMAGE_CONFIGS[case]
    mutate(imaging_raw)
    assert problem in config_error_line(imaging_raw, tmp_path, field)


def test_a_default_set_that_is_not_a_list_is_refused(imaging_raw: dict, tmp_path: Path) -> None:
    imaging_raw["data"]["default_set"] = "training.train_steps=5"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(imaging_raw, sort_keys=False))
    with pytest.raises(ConfigError, match=r"data\.default_set"):
        load_config(path, default_data=True)
