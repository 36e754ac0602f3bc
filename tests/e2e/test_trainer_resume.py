"""A pipeline whose Trainer is killed with SIGKILL mid-training resumes, when run
again, from the Trainer's last checkpoint instead of training from scratch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import NO_INTERVALS, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e

# 12 epochs of 11 steps: long enough to be killed part-way, a second or two an epoch.
EPOCHS = 12
TRAINING = ["--set", f"training.train_steps={EPOCHS * 11}", "--set", "training.steps_per_epoch=11"]
KILL_AFTER_EPOCHS = 3


def _complete_checkpoints(output: Path) -> list[Path]:
    return sorted(output.glob("tfx/resume/*/epoch-*/state.json"))


def _epochs_checkpointed(output: Path) -> int:
    return max((int(p.parent.name.split("-")[1]) for p in _complete_checkpoints(output)), default=0)


def test_a_killed_trainer_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    output = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aet.pipelines.cli",
            "run",
            "finance_risk",
            *TRAINING,
            *NO_INTERVALS,  # as run_aet runs it again: another config would start afresh
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the kill reaches every process the run started
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 600
    while _epochs_checkpointed(output) < KILL_AFTER_EPOCHS:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert not (output / "serving").exists()  # nothing was pushed by the killed run
    epochs_done = _epochs_checkpointed(output)
    assert epochs_done < EPOCHS

    resumed = run_aet("run", "finance_risk", *TRAINING, output=output)
    assert_succeeded(resumed)
    training = resumed.summary["training"]
    assert training["resumed_from"] is not None
    assert int(training["resumed_from"].rsplit("-", 1)[1]) >= epochs_done
    assert training["epochs_run"] == EPOCHS  # the epochs before the kill are in the history
    warmups = [e for e in training["events"] if "warm-up" in e["why"]]
    assert len(warmups) == 1
    assert resumed.summary["blessed"] is True
    # The checkpoints are gone once the model is exported.
    assert _complete_checkpoints(output) == []
