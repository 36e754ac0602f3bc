"""A new tabular domain needs only a config file: Palmer penguins (three classes),
written into a temporary folder, runs through the whole pipeline and pushes a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from aet.components.export.server_config import read_models_config
from tests.e2e.conftest import assert_ready_for_tf_serving, assert_succeeded, run_aet
from tests.penguins_domain import write_penguins_config

pytestmark = pytest.mark.e2e


def test_penguins_domain_written_as_config_only_runs_end_to_end(
    tmp_path: Path, penguins_csv: Path
) -> None:
    config_path = write_penguins_config(tmp_path / "penguins", penguins_csv)

    run = run_aet(
        "run",
        str(config_path),
        "--set",
        "training.train_steps=50",
        "--set",
        "training.steps_per_epoch=10",
        "--set",
        "training.elastic.regularisation.metric=accuracy",  # switches the section on
        "--set",
        "training.elastic.regularisation.weight_decay_factor=2",
        "--serving-dir",
        str(tmp_path / "serving_root"),
        output=tmp_path / "run",
    )

    assert_succeeded(run)
    summary = run.summary
    assert set(summary["components"].values()) == {"complete"}
    assert summary["blessed"] is True
    assert "accuracy" in summary["metrics"]["overall"]
    # The elastic callbacks ran inside the Trainer: their values are in the history.
    assert {"learning_rate", "dropout_rate", "weight_decay"} <= set(summary["training"]["final"])
    # Pushed under the shared serving root, checked with the inferred schema's types.
    assert Path(summary["pushed_model_dir"]).parent == tmp_path / "serving_root" / "penguins"
    assert_ready_for_tf_serving(
        run, {"serving_default": 2, "predict_features": 2, "classification": 2}
    )
    (entry,) = read_models_config(str(tmp_path / "serving_root")).model_config_list.config
    assert entry.name == "penguins"
    model = tf.saved_model.load(summary["pushed_model_dir"])
    example = tf.train.Example()
    for name in ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"):
        example.features.feature[name].float_list.value.append(0.5)
    probabilities = model.signatures["serving_default"](
        examples=tf.constant([example.SerializeToString()])
    )["probabilities"].numpy()
    assert probabilities.shape == (1, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
