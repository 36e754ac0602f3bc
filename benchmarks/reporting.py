"""What every benchmark shares: running `aet run` as a user would (one subprocess per
run) and describing the machine, the command and mean ± spread in the results files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]


def run_pipeline(
    domain: str, output: Path, overrides: Sequence[str] = (), data: str | None = None
) -> tuple[dict, float]:
    """Runs `python -m pipelines.cli run DOMAIN` into `output`; returns its run summary
    and wall time in seconds, or raises with the tail of its output when it fails."""
    command = [sys.executable, "-m", "pipelines.cli", "run", domain, "--output", str(output)]
    command += ["--data", data] if data else []
    command += [part for override in overrides for part in ("--set", override)]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall_time = time.monotonic() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} exited {completed.returncode}:\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return json.loads((output / "run_summary.json").read_text()), wall_time


def mean_std(values: Sequence[float], digits: int = 4) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def machine() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    gpu = f"{len(gpus)} GPU ({', '.join(g.name for g in gpus)})" if gpus else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}; TensorFlow {tf.__version__}"


def command_line() -> str:
    """The command that is running, as typed: `python -m benchmarks.NAME ARGS`."""
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    script = ["-m", spec.name] if spec else sys.argv[:1]
    return shlex.join([str(python), *script, *sys.argv[1:]])
