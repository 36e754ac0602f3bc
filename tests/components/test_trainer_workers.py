"""`run_fn` outside TFX on the tests' real Transform output: alone, and as two
MultiWorkerMirroredStrategy workers on 127.0.0.1 (the way a Kubeflow or Vertex job
runs the Trainer on several machines), where only the chief exports and logs."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from components.features import to_custom_config
from components.trainer import HISTORY_FILE
from pipelines.config import load_config
from tests.components.elastic.test_distributed_resume import _free_ports

WORKER = Path(__file__).with_name("trainer_worker.py")
ROOT = Path(__file__).resolve().parents[2]
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


def _start(spec: Path, tf_config: dict | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(spec)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]


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
def test_run_fn_alone(tmp_path: Path, transform_run) -> None:
    _finish(_start(_spec(tmp_path, transform_run, "alone"), None))
    _assert_trained_and_exported(tmp_path / "alone", replicas=1)


@pytest.mark.e2e
def test_run_fn_as_two_workers_exports_once_from_the_chief(tmp_path: Path, transform_run) -> None:
    spec = _spec(tmp_path, transform_run, "cluster")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = [
        _start(spec, {"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(2)
    ]
    for worker in workers:
        _finish(worker)
    run = tmp_path / "cluster"
    _assert_trained_and_exported(run, replicas=2)
    assert sorted(p.name for p in (run / "serving").iterdir()) == sorted(
        ["assets", "fingerprint.pb", "keras_metadata.pb", "saved_model.pb", "variables"]
    )
