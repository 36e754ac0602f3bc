"""Serving latency and throughput of each domain's pushed model, in process, through
`serving_default` (the signature TF Serving's Predict API calls, on serialized
tf.Examples).

For each domain it runs the shipped config as a user would, with training cut short
(latency depends on the architecture and the catalogue or image size, not on how long
the weights were trained; the recommender's blessing threshold is lowered so that its
two-epoch model is pushed; every other setting is the shipped one):

    aet run DOMAIN --set training.train_steps=... (default data)

then loads the pushed SavedModel with `tf.saved_model.load`, as a model server does,
and times requests built from the run's held-out (eval split) raw examples:

- batch 1: p50 and p99 over 300 sequential requests, after 30 warm-up requests;
- batch 64: throughput (examples per second) over 40 sequential requests, after 5.

The timings include the Transform graph and everything else inside the signature, not
a network or TF Serving's own request handling. Writes
benchmarks/results/serving_latency.md (overwritten: the latest measurement).

    .venv/bin/python -m benchmarks.serving_latency                 # about 8 minutes
    .venv/bin/python -m benchmarks.serving_latency --domains finance_risk
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

from aet.components.split_records import first_records
from benchmarks.reporting import command_line, machine, run_pipeline, work_folder, write_results

RESULTS = Path(__file__).parent / "results" / "serving_latency.md"
# Short training per domain; the model's shape is the shipped config's.
SHORT_TRAINING = {
    "finance_risk": ["training.train_steps=110"],  # 10 epochs: enough to be blessed
    "medical_imaging": [],  # the default 16-image sample already trains 15 steps
    # Two epochs do not reach the blessing threshold; the latency does not depend on it.
    "recommendation": ["training.train_steps=16", "evaluation.thresholds={ndcg: {lower: 0.0}}"],
}
SINGLE_CALLS, SINGLE_WARMUP = 300, 30
BATCH, BATCH_CALLS, BATCH_WARMUP = 64, 40, 5


@dataclass
class DomainLatency:
    domain: str
    model_dir: str
    p50_ms: float
    p99_ms: float
    batch_p50_ms: float
    throughput: float  # examples per second at batch 64


def _timed(serve, batches: list[tf.Tensor], calls: int, warmup: int) -> list[float]:
    for index in range(warmup):
        serve(examples=batches[index % len(batches)])
    timings = []
    for index in range(calls):
        started = time.perf_counter()
        serve(examples=batches[index % len(batches)])
        timings.append(time.perf_counter() - started)
    return timings


def measure(domain: str, model_dir: str, examples: list[bytes]) -> DomainLatency:
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    singles = [tf.constant([example]) for example in examples]
    single = _timed(serve, singles, SINGLE_CALLS, SINGLE_WARMUP)
    repeated = (examples * (BATCH // len(examples) + 1))[:BATCH]
    batched = _timed(serve, [tf.constant(repeated)], BATCH_CALLS, BATCH_WARMUP)
    return DomainLatency(
        domain=domain,
        model_dir=model_dir,
        p50_ms=float(np.percentile(single, 50) * 1000),
        p99_ms=float(np.percentile(single, 99) * 1000),
        batch_p50_ms=float(np.percentile(batched, 50) * 1000),
        throughput=BATCH * len(batched) / sum(batched),
    )


def run_domain(domain: str, work_dir: Path) -> DomainLatency:
    summary, _ = run_pipeline(domain, work_dir / domain, SHORT_TRAINING[domain])
    if not summary["pushed_model_dir"]:
        raise RuntimeError(f"{domain}: the run pushed no model ({work_dir / domain})")
    examples = first_records(summary["examples_dir"], "eval", BATCH)
    return measure(domain, summary["pushed_model_dir"], examples)


def report(results: list[DomainLatency]) -> str:
    lines = [
        "# Serving latency, in process, through `serving_default` (serialized tf.Examples)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- command: `{command_line()}`",
        f"- batch 1: p50 and p99 of {SINGLE_CALLS} sequential requests after {SINGLE_WARMUP}"
        f" warm-up requests; batch {BATCH}: {BATCH_CALLS} sequential requests after"
        f" {BATCH_WARMUP}",
        "- the model is each domain's shipped architecture, trained briefly (see the"
        " benchmark's docstring); requests are built from the run's held-out examples",
        "- includes the Transform graph and the whole signature; not a network hop or TF"
        " Serving's request handling",
        "",
        f"| domain | p50 batch 1 (ms) | p99 batch 1 (ms) | p50 batch {BATCH} (ms) |"
        f" throughput at batch {BATCH} (examples/s) |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.domain} | {result.p50_ms:.2f} | {result.p99_ms:.2f} |"
            f" {result.batch_p50_ms:.1f} | {result.throughput:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=list(SHORT_TRAINING))
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: temp)")
    args = parser.parse_args()
    results = []
    with work_folder(args.work_dir, "aet-serving-") as work_dir:
        for domain in args.domains:
            results.append(run_domain(domain, work_dir))
            latest = results[-1]
            print(
                f"{domain}: p50 {latest.p50_ms:.2f} ms, p99 {latest.p99_ms:.2f} ms,"
                f" {latest.throughput:,.0f} examples/s at batch {BATCH}",
                flush=True,
            )
    write_results(args.output_md, report(results))


if __name__ == "__main__":
    main()
