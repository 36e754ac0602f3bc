"""How a pipeline grows with its data: finance_risk on German Credit resampled with noise
to each size (Parquet), run end to end as a user runs it, on each local Beam runner; per
component the time and the peak memory of the whole process tree while it ran, and each
component's growth exponent (the slope of log time against log rows).

    .venv/bin/python -m benchmarks.scale [--rows 10000 100000 1000000]
        [--runners in-process multi-processing] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

from benchmarks.reporting import REPO, command_line, machine, work_folder, write_results
from benchmarks.table_input import SETTINGS, resampled_credit

RESULTS = REPO / "benchmarks" / "results" / "scale.md"
RUNNERS = {
    "in-process": ["--runner", "local"],
    "multi-processing": [
        "--runner", "beam", "--beam-preset", "multi-processing",
        "--beam-option", "direct_num_workers=2",
    ],
}  # fmt: skip
# The components whose work grows with the rows; the others take well under a second.
MEASURED = ("ParquetExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")
STARTED = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+running$")
SAMPLE_S = 0.25


@dataclass
class Measured:
    """One run: its wall time and, per component, seconds (from ML Metadata, in the run
    summary) and the peak resident memory of the CLI and all its children, in GiB."""

    wall_s: float
    seconds: dict[str, float]
    peak_gib: dict[str, float] = field(default_factory=dict)

    @property
    def overall_peak_gib(self) -> float:
        return max(self.peak_gib.values(), default=0.0)


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and every descendant (Beam's worker processes)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a worker that just ended
            continue
    return total


def run_measured(data: Path, output: Path, runner_args: Sequence[str]) -> Measured:
    """`aet run finance_risk --data DATA`, following its progress lines to know which
    component runs while the memory of its process tree is sampled."""
    command = [
        sys.executable, "-m", "aet.pipelines.cli", "run", "finance_risk",
        "--data", str(data), "--output", str(output), *runner_args,
        *(part for setting in SETTINGS for part in ("--set", setting)),
    ]  # fmt: skip
    started = time.monotonic()
    child = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    process = psutil.Process(child.pid)
    current = ["(before the pipeline)"]
    peaks: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_S):
            name = current[0]
            peaks[name] = max(peaks.get(name, 0), tree_rss(process))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for line in child.stdout:
        lines.append(line)
        found = STARTED.match(line.strip())
        if found:
            current[0] = found.group(1)
    child.wait()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    if child.returncode != 0:
        tail = "".join(lines)[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {child.returncode}:\n{tail}")
    summary = json.loads((output / "run_summary.json").read_text())
    return Measured(
        wall,
        {name: float(s) for name, s in summary["component_seconds"].items()},
        {name: rss / 2**30 for name, rss in peaks.items()},
    )


def growth_exponent(rows: Sequence[int], seconds: Sequence[float]) -> float | None:
    """The least-squares slope of log(seconds) against log(rows): 1 is linear."""
    if len(rows) < 2:
        return None
    slope, _ = np.polyfit(np.log(rows), np.log(seconds), 1)
    return float(slope)


def _row(rows: int, runner: str, run: Measured) -> str:
    cells = [f"{run.seconds.get(name, math.nan):.1f}" for name in MEASURED]
    peaks = [f"{run.peak_gib.get(name, math.nan):.2f}" for name in MEASURED]
    return (
        f"| {rows:,} | {runner} | {run.wall_s:.0f} | {' | '.join(cells)} "
        f"| {' | '.join(peaks)} | {run.overall_peak_gib:.2f} |"
    )


def exponent_lines(results: dict[tuple[int, str], Measured], runners: Sequence[str]) -> list[str]:
    lines = []
    for runner in runners:
        sizes = sorted(rows for rows, name in results if name == runner)
        cells = []
        for name in (*MEASURED, "pipeline"):
            seconds = [
                results[rows, runner].wall_s
                if name == "pipeline"
                else results[rows, runner].seconds[name]
                for rows in sizes
            ]
            exponent = growth_exponent(sizes, seconds)
            cells.append("-" if exponent is None else f"{exponent:.2f}")
        lines.append(f"| {runner} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runners", nargs="+", choices=sorted(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--work-dir", type=Path, help="keep the data and runs here")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    day = time.strftime("%Y-%m-%d")
    results: dict[tuple[int, str], Measured] = {}
    lines = []
    with work_folder(args.work_dir, "aet-scale-") as work:
        work.mkdir(parents=True, exist_ok=True)
        for rows in args.rows:
            data = work / f"credit-{rows}.parquet"
            pq.write_table(resampled_credit(rows), data)
            for runner in args.runners:
                run = run_measured(data, work / f"run-{runner}-{rows}", RUNNERS[runner])
                results[rows, runner] = run
                lines.append(_row(rows, runner, run))
                print(lines[-1], flush=True)
    header = " | ".join(MEASURED)
    timed = " | ".join(f"{name} s" for name in MEASURED)
    peaked = " | ".join(f"{name} GiB" for name in MEASURED)
    write_results(
        args.output_md,
        "\n".join(
            [
                f"# Scale: finance_risk at {', '.join(f'{rows:,}' for rows in args.rows)} rows",
                "",
                f"Measured {day} on {machine()}, one run per cell.",
                f"Command: `{command_line()}`. finance_risk's shipped config with "
                f"{', '.join(SETTINGS)}; German Credit resampled with noise (seed 0) and "
                "written as one Parquet file. Runners: `in-process` is `aet run` (TFX's "
                "LocalDagRunner, Beam's FnApiRunner in the process); `multi-processing` is "
                "`--runner beam --beam-preset multi-processing --beam-option "
                "direct_num_workers=2`. Seconds per component are ML Metadata's; peak GiB "
                f"is the resident memory of the CLI and all its children, sampled every "
                f"{SAMPLE_S} s while that component ran.",
                "",
                f"| rows | runner | pipeline s | {timed} | {peaked} | peak GiB |",
                "|---|---|---|" + "---|" * (2 * len(MEASURED)) + "---|",
                *lines,
                "",
                "Growth exponents (slope of log seconds against log rows; 1.0 is linear):",
                "",
                f"| runner | {header} | pipeline |",
                "|---|" + "---|" * (len(MEASURED) + 1),
                *exponent_lines(results, args.runners),
                "",
            ]
        ),
    )


if __name__ == "__main__":
    main()
