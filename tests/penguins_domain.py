"""A second tabular domain written as nothing but a config file: Palmer penguins.

The processed penguins CSV has the label `species` (0, 1, 2) and four numeric features
scaled to [0, 1]. Unit tests load and build it; the e2e tests run it end to end.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PENGUINS_NUMERIC = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
PENGUINS_CLASSES = [0, 1, 2]


def penguins_config(csv: Path) -> dict:
    """The raw config (what a user would write in YAML) for the penguins CSV at `csv`."""
    return {
        "name": "penguins",
        "description": "Palmer penguin species from culmen, flipper and body mass.",
        "data": {
            "default": str(Path(csv).resolve()),
            "splits": {"train": 0.7, "eval": 0.15, "test": 0.15},
        },
        "features": {
            "label": {"name": "species", "classes": PENGUINS_CLASSES},
            "numeric": PENGUINS_NUMERIC,
        },
        "model": {"embedding_dim": 16, "num_layers": 1, "num_heads": 2},
        "training": {
            "batch_size": 32,
            "steps_per_epoch": 8,
            "train_steps": 160,
            "eval_steps": 2,
            # Three classes: the trainer reports accuracy and loss, not AUC.
            "elastic": {"monitor": "val_loss"},
        },
        "evaluation": {
            "metrics": ["accuracy", "log_loss"],
            # Without a threshold TFX's Evaluator blesses nothing. Chance is ~0.44.
            "thresholds": {"accuracy": {"lower": 0.6}},
        },
        "serving": {"model_name": "penguins"},
    }


def write_penguins_config(folder: Path, csv: Path) -> Path:
    """Writes `folder/config.yaml` for the penguins CSV at `csv`; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(penguins_config(csv), sort_keys=False))
    return path
