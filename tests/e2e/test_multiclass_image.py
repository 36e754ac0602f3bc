"""A new four-class image domain written as a new user would: a config with no
`training.elastic` section and training length in epochs only. Its defaults follow the
data (a multi-class model watches val_accuracy, not AUC; steps per epoch come from the
training split's size), and it runs end to end with the local runner."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from aet.pipelines.domains import load_domain
from tests.e2e.conftest import CliRun, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e

CLASSES = ["dark", "dim", "light", "bright"]
PER_CLASS = 16
EPOCHS = 2
BATCH_SIZE = 8


def _write_images(folder: Path) -> None:
    """Class sub-folders of 16x16 grey PNGs, each class a grey level plus noise."""
    generator = np.random.default_rng(0)
    for level, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            pixels = 40 + 50 * level + generator.integers(0, 30, size=(16, 16))
            Image.fromarray(pixels.astype(np.uint8), "L").save(folder / name / f"{index}.png")


def _config(images: Path) -> dict:
    return {
        "name": "grey_levels",
        "description": "Four grey levels, as a new image domain would be written.",
        "data": {"format": "images", "default": str(images)},
        "features": {
            "label": {"name": "label", "classes": CLASSES},
            "image": {"name": "image", "height": 16, "width": 16, "channels": 1},
        },
        "model": {"conv_filters": [8], "embedding_dim": 16, "num_layers": 1, "num_heads": 2},
        "training": {"epochs": EPOCHS, "batch_size": BATCH_SIZE},
        # Whether four grey levels are learnt in two epochs is not the point: running is.
        "evaluation": {
            "metrics": ["accuracy", "log_loss"],
            "thresholds": {"accuracy": {"lower": 0.0}},
            "per_class": True,
            "heat_maps": 2,
        },
        "serving": {"model_name": "grey-levels"},
    }


@pytest.fixture(scope="module")
def grey_levels(tmp_path_factory) -> tuple[Path, CliRun]:
    folder = tmp_path_factory.mktemp("grey")
    _write_images(folder / "images")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(_config(folder / "images"), sort_keys=False))
    run = run_aet("run", str(config_path), output=folder / "run")
    return config_path, run


def test_a_multiclass_config_without_elastic_settings_validates_with_task_defaults(
    grey_levels,
) -> None:
    config_path, _ = grey_levels
    config = load_domain(str(config_path))
    assert config.task == "multiclass"
    assert config.training.elastic.monitor == "val_accuracy"
    assert config.model.architecture == "attention_cnn"


def test_a_multiclass_image_domain_runs_end_to_end_in_epochs(grey_levels) -> None:
    _, run = grey_levels
    assert_succeeded(run)
    summary = run.summary
    assert summary["blessed"] and summary["pushed_model_dir"]
    assert summary["serving_check"]["passed"]
    assert {f"auc[class={name}]" for name in CLASSES} <= set(summary["metrics"]["overall"])
    matrix = summary["confusion_matrix"]
    assert matrix["classes"] == CLASSES
    assert sum(map(sum, matrix["counts"])) == summary["metrics"]["overall"]["example_count"]
    assert "<title>confusion matrix</title>" in (run.output / "report" / "index.html").read_text()
    training = summary["training"]
    assert training["epochs_run"] == EPOCHS
    train_images = summary["ingestion"]["examples"]["train"]
    assert training["steps_per_epoch"] == math.ceil(train_images / BATCH_SIZE)
    assert "val_accuracy" in training["final"]
