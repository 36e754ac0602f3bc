"""How fast ExampleGen reads the same table as CSV and as Parquet: finance_risk on German
Credit resampled with noise to each size, run end to end as a user runs it
(`aet run finance_risk --data FILE`), short training; the table gives ExampleGen's
seconds and rows per second, and the whole pipeline's, per format and size.

    .venv/bin/python -m benchmarks.table_input [--rows 100000 200000] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq

from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from benchmarks.reporting import (
    REPO,
    command_line,
    machine,
    run_pipeline,
    work_folder,
    write_results,
)

RESULTS = REPO / "benchmarks" / "results" / "table_input.md"
# Short training and no intervals: this measures reading, not fitting.
SETTINGS = (
    "training.train_steps=20",
    "training.steps_per_epoch=10",
    "training.eval_steps=2",
    "evaluation.confidence_intervals=none",
    "evaluation.thresholds.auc.lower=0.5",
)
EXAMPLE_GENS = {"csv": "CsvExampleGen", "parquet": "ParquetExampleGen"}


def resampled_credit(rows: int, seed: int = 0) -> pa.Table:
    """German Credit's rows drawn with replacement, each number moved by up to 5 % of
    its column's spread (kept an integer, and at least the column's minimum)."""
    config = load_domain("finance_risk")
    table = pyarrow.csv.read_csv(default_data_path(config))
    rng = np.random.default_rng(seed)
    drawn = table.take(pa.array(rng.integers(0, table.num_rows, rows)))
    for name in config.features.numeric:
        values = drawn[name].to_numpy()
        spread = max(float(np.std(table[name].to_numpy())), 1.0)
        moved = np.rint(values + rng.uniform(-0.05, 0.05, rows) * spread).astype(np.int64)
        moved = np.maximum(moved, int(np.min(table[name].to_numpy())))
        drawn = drawn.set_column(drawn.schema.get_field_index(name), name, pa.array(moved))
    return drawn


def write_csv(table: pa.Table, path: Path) -> None:
    """The table as CsvExampleGen reads it: the header unquoted (TFX splits it on
    commas as it is; pyarrow's writer quotes it), values quoted only where needed."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.column_names)
        for batch in table.to_batches(max_chunksize=10_000):
            writer.writerows(zip(*(column.to_pylist() for column in batch.columns), strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--work-dir", type=Path, help="keep the data and runs here")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d")
    lines = []
    with work_folder(args.work_dir, "aet-table-input-") as work:
        work.mkdir(parents=True, exist_ok=True)
        for rows in args.rows:
            table = resampled_credit(rows)
            files = {"csv": work / f"credit-{rows}.csv", "parquet": work / f"credit-{rows}.parquet"}
            write_csv(table, files["csv"])
            pq.write_table(table, files["parquet"])
            for name, path in files.items():
                summary, wall = run_pipeline(
                    "finance_risk", work / f"run-{name}-{rows}", SETTINGS, data=str(path)
                )
                seconds = summary["component_seconds"][EXAMPLE_GENS[name]]
                size = path.stat().st_size / 2**20
                lines.append(
                    f"| {rows:,} | {name} | {size:.1f} | {seconds:.1f} | {rows / seconds:,.0f} "
                    f"| {wall:.0f} |"
                )
                print(lines[-1], flush=True)
    write_results(
        args.output_md,
        "\n".join(
            [
                "# Reading a table: CSV against Parquet",
                "",
                f"Measured {started} on {machine()}.",
                f"Command: `{command_line()}`. finance_risk's shipped config with "
                f"{', '.join(SETTINGS)}; German Credit resampled with noise (seed 0), the "
                "same rows in both formats (Parquet: pyarrow's defaults, Snappy). "
                "ExampleGen s: the component's time in ML Metadata (reading, splitting "
                "and writing the examples).",
                "",
                "| rows | format | file MiB | ExampleGen s | rows/s | pipeline s |",
                "|---|---|---|---|---|---|",
                *lines,
                "",
            ]
        ),
    )


if __name__ == "__main__":
    main()
