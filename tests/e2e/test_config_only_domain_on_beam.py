"""A new tabular domain needs only a config file, and runs at scale as it runs locally:
Palmer penguins (three classes), written into a temporary folder, goes through the whole
pipeline on BeamDagRunner with the DirectRunner multi-processing preset (Beam work really
fans out over two worker processes) and pushes a model under a shared serving root. A
credential passed as a Beam arg reaches neither the run's owner-only logs nor its
summary. (The logistic-regression architecture runs end to end in test_plugin_kind.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from aet.components.export.server_config import read_models_config
from tests.conftest import INFERRED_SCHEMA_COMPONENTS
from tests.e2e.conftest import CliRun, assert_ready_for_tf_serving, assert_succeeded, run_aet
from tests.penguins_domain import write_penguins_config

pytestmark = pytest.mark.e2e

SENTINEL = "sentinel-storage-key-5f0c"


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory, penguins_csv: Path) -> CliRun:
    folder = tmp_path_factory.mktemp("penguins")
    config_path = write_penguins_config(folder / "domain", penguins_csv)
    run = run_aet(
        "run",
        str(config_path),
        "--runner",
        "beam",
        "--beam-preset",
        "multi-processing",
        "--beam-option",
        "direct_num_workers=2",
        f"--beam-arg=--storage_access_key={SENTINEL}",
        "--set",
        "training.train_steps=50",
        "--set",
        "training.steps_per_epoch=10",
        "--set",
        "training.elastic.regularisation.metric=accuracy",  # switches the section on
        "--set",
        "training.elastic.regularisation.weight_decay_factor=2",
        "--serving-dir",
        str(folder / "serving_root"),
        output=folder / "run",
    )
    assert_succeeded(run)
    return run


def test_the_whole_pipeline_runs_on_beam_and_the_elastic_callbacks_ran(
    penguins_run: CliRun,
) -> None:
    summary = penguins_run.summary
    assert summary["runner"] == "beam"
    assert summary["components"] == dict.fromkeys(INFERRED_SCHEMA_COMPONENTS, "complete")
    assert summary["blessed"] is True
    assert "accuracy" in summary["metrics"]["overall"]
    # The elastic callbacks ran inside the Trainer: their values are in the history.
    assert {"learning_rate", "dropout_rate", "weight_decay"} <= set(summary["training"]["final"])
    # Beam relays the log records of its SDK worker processes through the job service.
    assert "local_job_service: Worker:" in Path(summary["log_file"]).read_text()


def test_the_model_is_pushed_under_the_shared_root_and_answers(penguins_run: CliRun) -> None:
    summary = penguins_run.summary
    serving_root = Path(summary["pushed_model_dir"]).parents[1]
    assert Path(summary["pushed_model_dir"]).parent == serving_root / "penguins"
    assert serving_root != penguins_run.output / "serving"
    # Checked with the inferred schema's types.
    assert_ready_for_tf_serving(
        penguins_run,
        {"serving_default": 2, "explain": 2, "predict_features": 2, "classification": 2},
    )
    (entry,) = read_models_config(str(serving_root)).model_config_list.config
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


def test_a_credential_in_the_beam_args_stays_out_of_logs_and_summary(
    penguins_run: CliRun,
) -> None:
    logs = list((penguins_run.output / "logs").iterdir())
    assert logs and all(oct(log.stat().st_mode & 0o777) == oct(0o600) for log in logs)
    assert "storage_access_key=***" in Path(penguins_run.summary["log_file"]).read_text()
    for text in (*(log.read_text() for log in logs), penguins_run.stdout, penguins_run.stderr):
        assert SENTINEL not in text
    assert SENTINEL not in (penguins_run.output / "run_summary.json").read_text()
