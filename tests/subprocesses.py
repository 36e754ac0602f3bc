"""Python scripts run as separate processes by the tests, alone or as the workers of a
MultiWorkerMirroredStrategy cluster on 127.0.0.1 (TF_CONFIG set per process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_python(script: Path, *args: str, tf_config: dict | None = None) -> subprocess.Popen:
    """`python script args...` from the repository root, output captured; TF_CONFIG is
    `tf_config` when given and never inherited from this process."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(*processes: subprocess.Popen, timeout: float = 300) -> None:
    """Waits for every process and fails with the end of its output if one failed."""
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output[-4000:]


def worker_tf_configs(count: int) -> list[dict]:
    """TF_CONFIGs of a `count`-worker cluster on free ports of 127.0.0.1, worker 0 first."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [{"cluster": cluster, "task": {"type": "worker", "index": i}} for i in range(count)]
