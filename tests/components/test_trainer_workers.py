"""`run_fn` outside TFX on the tests' real Transform output, as two
MultiWorkerMirroredStrategy workers on 127.0.0.1 (the way a Kubeflow or Vertex job
runs the Trainer on several machines), where only the chief exports and logs. (Every
e2e pipeline run trains with run_fn alone.)"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import tensorflow as tf

from aet.components.features import to_custom_config
from aet.components.trainer import HISTORY_FILE
from aet.config import load_config
from tests.subprocesses import finish, start_python, worker_tf_configs

WORKER = Path(__file__).with_name("trainer_worker.py")
SMALL = [
    "training.batch_size=16",
    "training.steps_per_epoch=2",
    "training.train_steps=8",
    "training.eval_steps=1",
    "training.elastic.attention_monitor.probe_examples=8",
]


def _spec(tmp_path: Path, transform_run, name: str) -> Path:
    config = load_config(transform_run.config.source_dir / "config.yaml", SMALL)
    rows = tmp_path / "transformed_rows.pickle"
    if not rows.exists():
        rows.write_bytes(pickle.dumps(transform_run.train_transformed))
    spec = {
        "transformed_rows": str(rows),
        "transform_output": transform_run.transform_output_dir,
        "serving_model_dir": str(tmp_path / name / "serving"),
        "model_run_dir": str(tmp_path / name / "model_run"),
        "train_steps": config.training.train_steps,
        "eval_steps": config.training.eval_steps,
        "custom_config": to_custom_config(config, resume_root=str(tmp_path / name / "resume")),
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def _assert_trained_and_exported(run: Path, replicas: int) -> None:
    model = tf.saved_model.load(str(run / "serving"))
    assert {"serving_default", "transform_features"} <= set(model.signatures)
    history = json.loads((run / "model_run" / HISTORY_FILE).read_text())
    assert history["epochs_run"] == 4
    assert history["replicas"] == replicas
    # The elastic callbacks ran: the rate warming up, attention entropies every epoch.
    rates = history["history"]["learning_rate"]
    assert len(rates) == 4 and rates == sorted(rates) and rates[-1] < 0.001
    assert any(key.startswith("attention_entropy/") for key in history["history"])
    assert list((run / "resume").iterdir()) == []  # checkpoints gone after the export


@pytest.mark.e2e
def test_run_fn_as_two_workers_exports_once_from_the_chief(tmp_path: Path, transform_run) -> None:
    spec = _spec(tmp_path, transform_run, "cluster")
    workers = [
        start_python(WORKER, str(spec), tf_config=tf_config) for tf_config in worker_tf_configs(2)
    ]
    finish(*workers, timeout=600)
    run = tmp_path / "cluster"
    _assert_trained_and_exported(run, replicas=2)
    assert sorted(p.name for p in (run / "serving").iterdir()) == sorted(
        ["assets", "fingerprint.pb", "keras_metadata.pb", "saved_model.pb", "variables"]
    )
