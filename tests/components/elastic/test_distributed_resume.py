"""Resume under MultiWorkerMirroredStrategy: two worker processes on this machine
(TF_CONFIG on 127.0.0.1) train together, the chief alone keeps the checkpoints in the
shared folder, and after both are killed part-way they resume together from it, or one
process resumes alone; and a run killed alone resumes as two workers.

The count may change because a checkpoint holds one copy of each variable whatever the
strategy, and the global batch is the dataset's (16 here): each worker takes its share
of it, so the steps per epoch, the step count and the learning rate's schedule are the
same at any number of workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.components.elastic.test_resume import (
    EPOCHS,
    KILLED_IN_EPOCH,
    STEPS_PER_EPOCH,
    WORKER,
    read_trace,
)
from tests.subprocesses import finish, start_python, worker_tf_configs

WORKERS = 2


def _start_cluster(base: Path, *extra: str) -> list[subprocess.Popen]:
    return [
        start_python(
            WORKER,
            str(base / f"worker-{index}"),
            "--resume-dir",
            str(base / "resume"),
            *extra,
            tf_config=tf_config,
        )
        for index, tf_config in enumerate(worker_tf_configs(WORKERS))
    ]


def _start_alone(base: Path, *extra: str) -> subprocess.Popen:
    """One process, no TF_CONFIG, on the same shared checkpoint folder."""
    (base / "alone").mkdir(exist_ok=True)
    return start_python(WORKER, str(base / "alone"), "--resume-dir", str(base / "resume"), *extra)


def _kill_when_hanging(processes: list[subprocess.Popen], run_dirs: list[Path]) -> None:
    deadline = time.monotonic() + 300
    while not all((run_dir / "hanging").exists() for run_dir in run_dirs):
        for process in processes:
            assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the training never reached the kill point"
        time.sleep(0.2)
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def killed_cluster(tmp_path_factory) -> Path:
    """Two workers killed in epoch KILLED_IN_EPOCH; `resume-at-kill` keeps a copy of the
    checkpoints as the kill left them, for the tests that resume on another count."""
    base = tmp_path_factory.mktemp("cluster")
    run_dirs = [base / f"worker-{index}" for index in range(WORKERS)]
    for run_dir in run_dirs:
        run_dir.mkdir()
    _kill_when_hanging(_start_cluster(base, "--hang-at", f"{KILLED_IN_EPOCH}:2"), run_dirs)
    shutil.copytree(base / "resume", base / "resume-at-kill")
    return base


def _at_the_checkpoint(trace: list[dict]) -> dict:
    """What the killed run had after its last checkpointed epoch."""
    line = next(
        line for line in trace if line["kind"] == "epoch" and line["epoch"] == KILLED_IN_EPOCH - 1
    )
    return {k: v for k, v in line.items() if k != "kind"}


def _assert_resumed(run_dir: Path, killed_trace: list[dict], replicas: int) -> None:
    """Restored once, at the killed run's step and state, and finished the same training."""
    trace = read_trace(run_dir)
    restored = [line for line in trace if line["kind"] == "restored"]
    assert len(restored) == 1
    assert restored[0]["step"] == KILLED_IN_EPOCH * STEPS_PER_EPOCH
    assert {k: v for k, v in restored[0].items() if k != "kind"} == _at_the_checkpoint(killed_trace)
    after = trace[trace.index(restored[0]) + 1 :]
    assert [line["epoch"] for line in after] == list(range(KILLED_IN_EPOCH, EPOCHS))
    # Four steps an epoch at any count: the global batch did not change with the workers.
    assert [line["step"] for line in after] == [
        (epoch + 1) * STEPS_PER_EPOCH for epoch in range(KILLED_IN_EPOCH, EPOCHS)
    ]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["replicas"] == replicas
    assert result["step"] == EPOCHS * STEPS_PER_EPOCH
    assert len(result["history"]["loss"]) == EPOCHS


def test_only_the_chief_keeps_checkpoints_in_the_shared_folder(killed_cluster: Path) -> None:
    names = sorted(os.listdir(killed_cluster / "resume"))
    # The previous complete checkpoint and the last one; no scratch copies of workers.
    assert names == [f"epoch-{KILLED_IN_EPOCH - 1:06d}", f"epoch-{KILLED_IN_EPOCH:06d}"]


def test_killed_workers_resume_together_from_the_chiefs_checkpoint(killed_cluster: Path) -> None:
    finish(*_start_cluster(killed_cluster))
    for index in range(WORKERS):
        run_dir = killed_cluster / f"worker-{index}"
        # The trace before the restore is this worker's own, up to the kill.
        _assert_resumed(run_dir, read_trace(run_dir), replicas=WORKERS)


def test_two_killed_workers_resume_as_one(killed_cluster: Path, tmp_path: Path) -> None:
    shutil.copytree(killed_cluster / "resume-at-kill", tmp_path / "resume")
    finish(_start_alone(tmp_path))
    killed_trace = read_trace(killed_cluster / "worker-0")
    _assert_resumed(tmp_path / "alone", killed_trace, replicas=1)


def test_one_killed_run_resumes_as_two_workers(tmp_path: Path) -> None:
    _kill_when_hanging(
        [_start_alone(tmp_path, "--hang-at", f"{KILLED_IN_EPOCH}:2")], [tmp_path / "alone"]
    )
    killed_trace = read_trace(tmp_path / "alone")
    for index in range(WORKERS):
        (tmp_path / f"worker-{index}").mkdir()
    finish(*_start_cluster(tmp_path))
    for index in range(WORKERS):
        _assert_resumed(tmp_path / f"worker-{index}", killed_trace, replicas=WORKERS)
