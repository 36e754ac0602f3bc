"""Resume under MultiWorkerMirroredStrategy: two worker processes on this machine
(TF_CONFIG on 127.0.0.1) train together, the chief alone keeps the checkpoints in the
shared folder, and after both are killed part-way they resume together from it."""

from __future__ import annotations

import json
import os
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


@pytest.fixture(scope="module")
def killed_cluster(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("cluster")
    for index in range(WORKERS):
        (base / f"worker-{index}").mkdir()
    processes = _start_cluster(base, "--hang-at", f"{KILLED_IN_EPOCH}:2")
    deadline = time.monotonic() + 300
    while not all((base / f"worker-{i}" / "hanging").exists() for i in range(WORKERS)):
        for process in processes:
            assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the workers never reached the kill point"
        time.sleep(0.2)
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    return base


def test_only_the_chief_keeps_checkpoints_in_the_shared_folder(killed_cluster: Path) -> None:
    names = sorted(os.listdir(killed_cluster / "resume"))
    # The previous complete checkpoint and the last one; no scratch copies of workers.
    assert names == [f"epoch-{KILLED_IN_EPOCH - 1:06d}", f"epoch-{KILLED_IN_EPOCH:06d}"]


def test_killed_workers_resume_together_from_the_chiefs_checkpoint(killed_cluster: Path) -> None:
    finish(*_start_cluster(killed_cluster))
    for index in range(WORKERS):
        run_dir = killed_cluster / f"worker-{index}"
        trace = read_trace(run_dir)
        restored = [line for line in trace if line["kind"] == "restored"]
        assert len(restored) == 1 and restored[0]["step"] == KILLED_IN_EPOCH * STEPS_PER_EPOCH
        before = next(
            line
            for line in trace
            if line["kind"] == "epoch" and line["epoch"] == KILLED_IN_EPOCH - 1
        )
        assert {k: v for k, v in restored[0].items() if k != "kind"} == {
            k: v for k, v in before.items() if k != "kind"
        }
        result = json.loads((run_dir / "result.json").read_text())
        assert result["replicas"] == WORKERS  # it trained under the strategy, not alone
        assert result["step"] == EPOCHS * STEPS_PER_EPOCH
        assert len(result["history"]["loss"]) == EPOCHS
