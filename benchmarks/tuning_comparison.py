"""Tuned against default hyperparameters, same data, splits and evaluation.

For each domain and seed it runs the shipped config twice, as a user would:

    aet run DOMAIN --set training.seed=N            # the config's hyperparameters
    aet run DOMAIN --tune --set training.seed=N     # the config's search and budget

and compares the Evaluator's held-out metric (finance_risk and medical_imaging: AUC;
recommendation: NDCG@10), with the Tuner's wall time against its limit, the trials it
completed and the hyperparameters the Trainer used. Writes
benchmarks/results/tuning_comparison.md (overwritten: the latest measurement).

    .venv/bin/python -m benchmarks.tuning_comparison --domains finance_risk
    .venv/bin/python -m benchmarks.tuning_comparison --domains medical_imaging \
        --data ../shared/datasets/pneumoniamnist/pneumoniamnist.npz
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reporting import (
    command_line,
    machine,
    mean_std,
    run_pipeline,
    work_folder,
    write_results,
)

RESULTS = Path(__file__).parent / "results" / "tuning_comparison.md"
METRIC = {"finance_risk": "auc", "medical_imaging": "auc", "recommendation": "ndcg"}


@dataclass
class RunResult:
    domain: str
    seed: int
    tuned: bool
    metric: float
    wall_time_s: float
    tuner_s: float | None
    trials: int
    hyperparameters: dict
    kept_config: bool  # the config's own trial scored best


def run_once(domain: str, seed: int, tuned: bool, work_dir: Path, data: str | None) -> RunResult:
    overrides = [f"training.seed={seed}", *(["tuning.enabled=true"] if tuned else [])]
    output = work_dir / domain / f"{'tuned' if tuned else 'default'}-{seed}"
    summary, wall_time = run_pipeline(domain, output, overrides, data)
    return RunResult(
        domain=domain,
        seed=seed,
        tuned=tuned,
        metric=summary["metrics"]["overall"][METRIC[domain]],
        wall_time_s=wall_time,
        tuner_s=summary["component_seconds"].get("Tuner"),
        trials=len(summary.get("tuning", {}).get("trials", [])),
        hyperparameters=summary["training"]["hyperparameters"],
        kept_config=tuned
        and summary["training"]["hyperparameters"] == summary["tuning"]["config_values"],
    )


def report(results: list[RunResult], limits: dict[str, float]) -> str:
    lines = [
        "# Tuned against default hyperparameters",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- command: `{command_line()}`",
        "- each seed runs the shipped config, then the same with `--tune` (the config's"
        " search space, strategy and budget); the metric is the Evaluator's on the held-out"
        " split",
        "",
        "| domain | hyperparameters | seeds | held-out metric | run wall time (s) |"
        " Tuner time (s) / limit | trials | config's values kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for domain in dict.fromkeys(result.domain for result in results):
        for tuned in (False, True):
            rows = [r for r in results if r.domain == domain and r.tuned == tuned]
            if not rows:
                continue
            tuner = (
                f"{max(r.tuner_s or 0 for r in rows):.0f} / {limits[domain]:.0f}" if tuned else "-"
            )
            lines.append(
                f"| {domain} | {'tuned' if tuned else 'default'} | {len(rows)} |"
                f" {METRIC[domain]} {mean_std([r.metric for r in rows])} |"
                f" {statistics.mean(r.wall_time_s for r in rows):.0f} | {tuner} |"
                f" {'/'.join(str(r.trials) for r in rows) if tuned else '-'} |"
                f" {f'{sum(r.kept_config for r in rows)} of {len(rows)}' if tuned else '-'} |"
            )
    lines += ["", "Per run:", ""]
    for result in results:
        kind = "tuned" if result.tuned else "default"
        lines.append(
            f"- {result.domain} seed {result.seed} {kind}: {METRIC[result.domain]}"
            f" {result.metric:.4f}, {result.wall_time_s:.0f} s"
            + (f"; trained with {result.hyperparameters}" if result.tuned else "")
            + (" (the config's)" if result.kept_config else "")
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=["finance_risk"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", help="data for every domain run (default: each config's)")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: temp)")
    args = parser.parse_args()
    from aet.pipelines.domains import load_domain

    limits = {domain: load_domain(domain).tuning.max_wall_clock_s for domain in args.domains}
    results = []
    with work_folder(args.work_dir, "aet-tuning-") as work_dir:
        for domain in args.domains:
            for seed in args.seeds:
                for tuned in (False, True):
                    results.append(run_once(domain, seed, tuned, work_dir, args.data))
                    latest = results[-1]
                    print(
                        f"{domain} seed {seed} {'tuned' if tuned else 'default'}:"
                        f" {METRIC[domain]} {latest.metric:.4f}, {latest.wall_time_s:.0f} s",
                        flush=True,
                    )
    write_results(args.output_md, report(results, limits))


if __name__ == "__main__":
    main()
