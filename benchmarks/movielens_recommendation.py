"""The recommendation pipeline on MovieLens 100K against its two baselines, both protocols.

For each seed it runs the shipped domain on its default data exactly as a user would,

    aet run recommendation --set training.seed=N

(histories, validation, Transform, SASRec with the elastic callbacks, TFMA scoring the
model beside most-popular and item-to-item co-occurrence, push). Protocol: leave-last-
out per user (943 users; each user's last rating is the test target, the one before it
the validation target, the rest train); the items already in a user's history are not
ranked; HR@10 and NDCG@10 over the whole catalogue and over 100 negatives sampled per
user (the same negatives for the model and the baselines), and catalogue coverage.

It then sends every test user's history to the pushed model's `recommend` signature
(what a REST client calls), asking it to exclude that history, and checks that HR@10 and
NDCG@10 computed from the served top-10 lists equal the Evaluator's. It writes the
mean ± standard deviation over seeds, and each seed's figures, to
benchmarks/results/movielens_recommendation.md (overwritten: the latest measurement).

Full measurement:

    .venv/bin/python -m benchmarks.movielens_recommendation

A quick smoke run (nothing written to the results file):

    .venv/bin/python -m benchmarks.movielens_recommendation --seeds 0 \
        --set training.train_steps=16 --output-md /tmp/movielens.md
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

from aet.components.split_records import SPLIT_FOLDER
from aet.config.contract import HISTORY_ITEMS, TARGET_ITEM
from benchmarks.reporting import (
    command_line,
    machine,
    mean_std,
    run_pipeline,
    seeded_arguments,
    work_folder,
    write_results,
)

DOMAIN = "recommendation"
RESULTS = Path(__file__).parent / "results" / "movielens_recommendation.md"
METRICS = ("ndcg", "hit_rate", "ndcg_sampled", "hit_rate_sampled", "coverage")
MODELS = {
    "aet SASRec": "",
    "item-to-item co-occurrence": "[co_occurrence]",
    "most popular": "[most_popular]",
}
# Served top-10 lists and TFMA rank the same scores; only exact ties could order
# differently, so the two must agree to within one user in 943.
AGREEMENT = 1.5 / 943


@dataclass
class SeedResult:
    seed: int
    metrics: dict[str, float]  # the summary's overall metrics, baselines included
    served_ndcg: float
    served_hit_rate: float
    epochs: int
    wall_time_s: float


def held_out_histories(examples_dir: str) -> tuple[list[list[str]], list[str]]:
    """Each test user's history (oldest first) and target, from the pipeline's examples."""
    files = tf.io.gfile.glob(os.path.join(examples_dir, SPLIT_FOLDER.format("test"), "*"))
    histories, targets = [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        histories.append([item.decode() for item in feature[HISTORY_ITEMS].bytes_list.value])
        targets.append(feature[TARGET_ITEM].bytes_list.value[0].decode())
    return histories, targets


def served_top_k(model_dir: str, histories: list[list[str]], batch: int = 128) -> list[list[str]]:
    """The pushed model's top-k for each history, excluding the history itself."""
    serve = tf.saved_model.load(model_dir).signatures["recommend"]
    answers = []
    for start in range(0, len(histories), batch):
        rows = histories[start : start + batch]
        width = max(1, *(len(row) for row in rows))
        padded = tf.constant([row + [""] * (width - len(row)) for row in rows])
        items = serve(history=padded, exclude=padded)["items"].numpy()
        answers += [[item.decode() for item in row if item] for row in items]
    return answers


def ranking_from_lists(top_k: list[list[str]], targets: list[str]) -> tuple[float, float]:
    """HR@k and NDCG@k of top-k lists: a hit at position p (0-based) gains 1/log2(p + 2)."""
    hits = [row.index(target) for row, target in zip(top_k, targets, strict=True) if target in row]
    return len(hits) / len(targets), sum(1 / math.log2(p + 2) for p in hits) / len(targets)


def run_seed(seed: int, work_dir: Path, extra_set: Sequence[str]) -> SeedResult:
    summary, wall_time = run_pipeline(
        DOMAIN, work_dir / f"seed{seed}", [f"training.seed={seed}", *extra_set]
    )
    if not summary["pushed_model_dir"]:
        raise RuntimeError(f"seed {seed}: no model pushed ({summary.get('not_blessed_because')})")
    histories, targets = held_out_histories(summary["examples_dir"])
    served_hit_rate, served_ndcg = ranking_from_lists(
        served_top_k(summary["pushed_model_dir"], histories), targets
    )
    overall = summary["metrics"]["overall"]
    if (
        abs(served_ndcg - overall["ndcg"]) > AGREEMENT
        or abs(served_hit_rate - overall["hit_rate"]) > AGREEMENT
    ):
        raise RuntimeError(
            f"seed {seed}: served top-10 lists give HR {served_hit_rate:.4f}, NDCG "
            f"{served_ndcg:.4f}; the Evaluator's are {overall['hit_rate']}, {overall['ndcg']}"
        )
    return SeedResult(
        seed, overall, served_ndcg, served_hit_rate, summary["training"]["epochs_run"], wall_time
    )


def report(results: Sequence[SeedResult], extra_set: Sequence[str]) -> str:
    def values(metric: str, suffix: str) -> list[float]:
        return [r.metrics[metric + suffix] for r in results]

    model = np.mean(values("ndcg", ""))
    popular = np.mean(values("ndcg", "[most_popular]"))
    co_occurrence = np.mean(values("ndcg", "[co_occurrence]"))
    verdict = "met" if model >= 2 * popular and model > co_occurrence else "not met"
    lines = [
        "# recommendation on MovieLens 100K, leave-last-out (943 test users)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- command: `{command_line()}`",
        "- config: domains/recommendation/config.yaml"
        + (f" with {', '.join(extra_set)}" if extra_set else ""),
        "- protocol: per user, the last rating is the test target, the one before it the",
        "  validation target, the rest train; items already in the user's history are not",
        "  ranked; *full*: the target against every other catalogue item; *sampled*: against",
        "  100 negatives drawn per user (the same for all three rows); coverage: share of the",
        "  1678 films of the training split (the catalogue) in some top-10 list",
        "- target: NDCG@10 (full) at least twice most popular and above co-occurrence:"
        f" **{verdict}**",
        "",
        "| model | seeds | NDCG@10 | HR@10 | NDCG@10 (100 sampled) | HR@10 (100 sampled) |"
        " coverage@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, suffix in MODELS.items():
        cells = " | ".join(mean_std(values(metric, suffix), 4) for metric in METRICS)
        lines.append(f"| {name} | {len(results)} | {cells} |")
    lines += [
        "",
        f"Epochs: {mean_std([r.epochs for r in results], 1)}; wall time per run, pipeline"
        f" included: {mean_std([r.wall_time_s for r in results], 0)} s.",
        "",
        "Per seed (the model; served: from the pushed model's top-10 lists):",
        "",
        "| seed | NDCG@10 | HR@10 | served NDCG@10 | served HR@10 | NDCG@10 sampled |"
        " coverage | epochs | wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.seed} | {r.metrics['ndcg']:.4f} | {r.metrics['hit_rate']:.4f} |"
        f" {r.served_ndcg:.4f} | {r.served_hit_rate:.4f} | {r.metrics['ndcg_sampled']:.4f} |"
        f" {r.metrics['coverage']:.4f} | {r.epochs} | {r.wall_time_s:.0f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = seeded_arguments(__doc__.splitlines()[0], RESULTS)
    results = []
    with work_folder(args.work_dir, "aet-movielens-") as work_dir:
        for seed in args.seeds:
            results.append(run_seed(seed, work_dir, args.set))
            latest = results[-1]
            print(
                f"seed {seed}: NDCG@10 {latest.metrics['ndcg']:.4f} (most popular "
                f"{latest.metrics['ndcg[most_popular]']:.4f}, co-occurrence "
                f"{latest.metrics['ndcg[co_occurrence]']:.4f}), {latest.wall_time_s:.0f} s",
                flush=True,
            )
    write_results(args.output_md, report(results, args.set))


if __name__ == "__main__":
    main()
