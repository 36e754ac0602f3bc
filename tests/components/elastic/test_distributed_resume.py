"""Resume under MultiWorkerMirroredStrategy: two worker processes on this machine
(TF_CONFIG on 127.0.0.1) train together, the chief alone keeps the checkpoints in the
shared folder, and after both are killed part-way they resume together from it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.components.elastic.test_resume import (
    EPOCHS,
    KILLED_IN_EPOCH,
    ROOT,
    STEPS_PER_EPOCH,
    WORKER,
)

WORKERS = 2


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_cluster(base: Path, *extra: str) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(WORKERS)]}
    processes = []
    for index in range(WORKERS):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    str(base / f"worker-{index}"),
                    "--resume-dir",
                    str(base / "resume"),
                    *extra,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def _finish(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]


def _trace(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


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
    _finish(_start_cluster(killed_cluster))
    for index in range(WORKERS):
        run_dir = killed_cluster / f"worker-{index}"
        trace = _trace(run_dir)
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
