"""What every benchmark shares: running `aet run` as a user would (one subprocess per
run) and describing the machine, the command and mean ± spread in the results files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]


def run_pipeline(
    domain: str, output: Path, overrides: Sequence[str] = (), data: str | None = None
) -> tuple[dict, float]:
    """Runs `python -m aet.pipelines.cli run DOMAIN` into `output`; returns its run summary
    and wall time in seconds, or raises with the tail of its output when it fails."""
    command = [sys.executable, "-m", "aet.pipelines.cli", "run", domain, "--output", str(output)]
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


def seeded_arguments(
    description: str, results: Path, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """The options of a benchmark that runs a domain once per seed: `--seeds`, `--set`
    config overrides, `--output-md` (the results table) and `--work-dir` (keep the runs)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="config override"
    )
    parser.add_argument("--output-md", type=Path, default=results)
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: temp, removed)")
    return parser.parse_args(argv)


def write_results(path: Path, table: str) -> None:
    """Writes a benchmark's results file (replacing the last measurement) and says where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table)
    print(f"wrote {path}")


@contextmanager
def work_folder(keep: Path | None, prefix: str) -> Iterator[Path]:
    """`keep`, or a temporary folder removed afterwards, for a benchmark's runs."""
    folder = keep or Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
