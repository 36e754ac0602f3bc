"""How a pipeline's time and memory grow with its data, per component and runner.

A domain's data is grown to each size and run end to end as a user runs it, on each
local Beam runner; per component the time and the peak memory of the whole process tree
while it ran, and each component's growth exponent (the slope of log time against log
size).

Workloads: `finance` is finance_risk on German Credit resampled with noise (Parquet);
`xrays` is medical_imaging on PneumoniaMNIST replicated, each split in its share (.npz);
`interactions` is recommendation on MovieLens 100K's users repeated under new ids (CSV).

    .venv/bin/python -m benchmarks.scale [--workload finance|xrays|interactions] [--sizes N ...]
        [--runners in-process multi-processing] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

from aet.config import LogColumnsConfig
from aet.kinds.interactions.histories import read_interactions
from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from benchmarks.medmnist_pneumonia import NPZ
from benchmarks.reporting import REPO, command_line, machine, work_folder, write_results
from benchmarks.table_input import SETTINGS, resampled_credit

RUNNERS = {
    "in-process": ["--runner", "local"],
    "multi-processing": [
        "--runner", "beam", "--beam-preset", "multi-processing",
        "--beam-option", "direct_num_workers=2",
    ],
}  # fmt: skip
# The components after ExampleGen whose work grows with the data; the others take well
# under a second.
GROWING = ("StatisticsGen", "Transform", "Trainer", "Evaluator")
STARTED = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+running$")
SAMPLE_S = 0.25


def write_credit(rows: int, folder: Path) -> Path:
    path = folder / f"credit-{rows}.parquet"
    pq.write_table(resampled_credit(rows), path)
    return path


def write_xrays(images: int, folder: Path) -> Path:
    """PneumoniaMNIST's images repeated in turn until the three splits hold `images` in
    their original shares, as one .npz (ImageExampleGen keeps its splits)."""
    with np.load(NPZ) as source:
        arrays = {name: source[name] for name in source.files}
    splits = ("train", "val", "test")
    total = sum(len(arrays[f"{split}_images"]) for split in splits)
    grown = {}
    for split in splits:
        count = len(arrays[f"{split}_images"])
        order = np.resize(np.arange(count), round(count * images / total))
        grown[f"{split}_images"] = arrays[f"{split}_images"][order]
        grown[f"{split}_labels"] = arrays[f"{split}_labels"][order]
    path = folder / f"xrays-{images}.npz"
    np.savez(path, **grown)
    return path


def write_interactions(interactions: int, folder: Path) -> Path:
    """MovieLens 100K's users repeated under new ids (`196`, `196-c1`, `196-c2`, ...),
    each copy with its user's items, ratings and times, as one CSV log (read with the
    interaction kind's own reader)."""
    log = list(read_interactions(str(default_data_path(load_domain("recommendation")))))
    copies, rest = divmod(interactions, len(log))
    if rest or not copies:
        raise SystemExit(f"--sizes: give multiples of {len(log):,} interactions")
    path = folder / f"interactions-{interactions}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        columns = LogColumnsConfig()
        writer.writerow([columns.user, columns.item, columns.rating, columns.timestamp])
        for copy in range(copies):
            suffix = f"-c{copy}" if copy else ""
            writer.writerows(
                (row.user + suffix, row.item, row.rating, row.timestamp) for row in log
            )
    return path


# Training cut short: this measures how the data flows, not how well a model fits.
SHORT_RUN = (
    "training.train_steps=20",
    "training.steps_per_epoch=10",
    "training.eval_steps=2",
    "evaluation.confidence_intervals=none",
)


@dataclass(frozen=True)
class Workload:
    """A domain, the data it is grown on and the settings of its runs (training cut
    short: this measures how the data flows, not how well a model fits)."""

    domain: str
    unit: str
    sizes: tuple[int, ...]
    example_gen: str
    settings: tuple[str, ...]
    write_data: Callable[[int, Path], Path]
    data: str

    @property
    def measured(self) -> tuple[str, ...]:
        return (self.example_gen, *GROWING)

    @property
    def results(self) -> Path:
        return REPO / "benchmarks" / "results" / f"scale_{self.domain}.md"


WORKLOADS = {
    "finance": Workload(
        "finance_risk", "rows", (10_000, 100_000, 1_000_000), "ParquetExampleGen",
        SETTINGS, write_credit,
        "German Credit resampled with noise (seed 0) and written as one Parquet file",
    ),
    "xrays": Workload(
        "medical_imaging", "images", (5_000, 50_000), "ImageExampleGen",
        SHORT_RUN,
        write_xrays,
        "PneumoniaMNIST (../shared/datasets) with its images repeated in turn to each "
        "size, each split in its share, as one .npz",
    ),
    "interactions": Workload(
        "recommendation", "interactions", (100_000, 1_000_000), "InteractionsExampleGen",
        SHORT_RUN,
        write_interactions,
        "MovieLens 100K's users repeated under new ids, each copy with its user's items, "
        "ratings and times, as one CSV log; InteractionsExampleGen turns it into "
        "histories, after `aet run` has read every row once to check it (in the "
        "pipeline's seconds only)",
    ),
}  # fmt: skip


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


def run_measured(
    workload: Workload, data: Path, output: Path, runner_args: Sequence[str]
) -> Measured:
    """`aet run DOMAIN --data DATA`, following its progress lines to know which
    component runs while the memory of its process tree is sampled."""
    command = [
        sys.executable, "-m", "aet.pipelines.cli", "run", workload.domain,
        "--data", str(data), "--output", str(output), *runner_args,
        *(part for setting in workload.settings for part in ("--set", setting)),
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


def growth_exponent(sizes: Sequence[int], seconds: Sequence[float]) -> float | None:
    """The least-squares slope of log(seconds) against log(size): 1 is linear."""
    if len(sizes) < 2:
        return None
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def _row(measured: Sequence[str], size: int, runner: str, run: Measured) -> str:
    cells = [f"{run.seconds.get(name, math.nan):.1f}" for name in measured]
    peaks = [f"{run.peak_gib.get(name, math.nan):.2f}" for name in measured]
    return (
        f"| {size:,} | {runner} | {run.wall_s:.0f} | {' | '.join(cells)} "
        f"| {' | '.join(peaks)} | {run.overall_peak_gib:.2f} |"
    )


def exponent_lines(
    measured: Sequence[str], results: dict[tuple[int, str], Measured], runners: Sequence[str]
) -> list[str]:
    lines = []
    for runner in runners:
        sizes = sorted(size for size, name in results if name == runner)
        cells = []
        for name in (*measured, "pipeline"):
            seconds = [
                results[size, runner].wall_s
                if name == "pipeline"
                else results[size, runner].seconds[name]
                for size in sizes
            ]
            exponent = growth_exponent(sizes, seconds)
            cells.append("-" if exponent is None else f"{exponent:.2f}")
        lines.append(f"| {runner} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="finance")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="rows, images or interactions; one run each"
    )
    parser.add_argument("--runners", nargs="+", choices=sorted(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--work-dir", type=Path, help="keep the data and runs here")
    parser.add_argument("--output-md", type=Path, help="default: results/scale_DOMAIN.md")
    args = parser.parse_args(argv)
    workload = WORKLOADS[args.workload]
    sizes = args.sizes or workload.sizes
    measured = workload.measured
    day = time.strftime("%Y-%m-%d")
    results: dict[tuple[int, str], Measured] = {}
    lines = []
    with work_folder(args.work_dir, "aet-scale-") as work:
        work.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            data = workload.write_data(size, work)
            for runner in args.runners:
                output = work / f"run-{runner}-{size}"
                run = run_measured(workload, data, output, RUNNERS[runner])
                results[size, runner] = run
                lines.append(_row(measured, size, runner, run))
                print(lines[-1], flush=True)
    timed = " | ".join(f"{name} s" for name in measured)
    peaked = " | ".join(f"{name} GiB" for name in measured)
    write_results(
        args.output_md or workload.results,
        "\n".join(
            [
                f"# Scale: {workload.domain} at "
                f"{', '.join(f'{size:,}' for size in sizes)} {workload.unit}",
                "",
                f"Measured {day} on {machine()}, one run per cell.",
                f"Command: `{command_line()}`. {workload.domain}'s shipped config with "
                f"{', '.join(workload.settings)}; {workload.data}. Runners: `in-process` is "
                "`aet run` (TFX's LocalDagRunner, Beam's FnApiRunner in the process); "
                "`multi-processing` is `--runner beam --beam-preset multi-processing "
                "--beam-option direct_num_workers=2`. Seconds per component are ML "
                "Metadata's; peak GiB is the resident memory of the CLI and all its "
                f"children, sampled every {SAMPLE_S} s while that component ran.",
                "",
                f"| {workload.unit} | runner | pipeline s | {timed} | {peaked} | peak GiB |",
                "|---|---|---|" + "---|" * (2 * len(measured)) + "---|",
                *lines,
                "",
                f"Growth exponents (slope of log seconds against log {workload.unit}; "
                "1.0 is linear):",
                "",
                f"| runner | {' | '.join(measured)} | pipeline |",
                "|---|" + "---|" * (len(measured) + 1),
                *exponent_lines(measured, results, args.runners),
                "",
            ]
        ),
    )


if __name__ == "__main__":
    main()
