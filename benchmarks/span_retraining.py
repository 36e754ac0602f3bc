"""Retraining over spans whose data changes: the first model frozen, against a model
trained from scratch on the window of recent spans, against the warm-started elastic
model (the default), each scored on every new span's test split.

Two plans, one per domain (`--domain`):

- finance_risk: German Credit in a fixed random order cut into four spans of 250
  applicants; the first two are random, the last 500 applicants are the ones with the
  largest loans (credit amount, with a little noise), so spans 3 and 4 ask for more
  money for longer.
- medical_imaging: PneumoniaMNIST's 5,856 X-rays (all three official splits pooled) in
  a fixed random order, four spans of 1,200 images written as image folders; spans 3
  and 4 come from a changed acquisition: half the contrast, lifted towards white
  (pixel * 0.5 + 110).

- recommendation: MovieLens 100K in its real order in time, one span per month
  (1997-09 to 1998-04: 8 spans of 6,704 to 23,980 ratings); each month's users' last
  rating in the month is its test target. Nothing is changed by hand: whatever drifts
  is the world's.

In the first two, span 3 is the changed one: it should be flagged against span 2, and
span 4 (like span 3) not against span 3. Both arms go through `aet run DOMAIN --data SPANS` as
a user would (one pipeline run per span, `data.window=2`, the default
`drift.policy: retrain`); the from-scratch arm sets `training.warm_start=never`. (a) is
span 1's pushed model scored on each span's test split (the split the Evaluator
reads: AUC, or for recommendation NDCG@10 from the served `recommend` signature's top
10); (b) and (c) are the Evaluator's score of the new model, with the Trainer's wall
time and epochs, and whether it was pushed.

    .venv/bin/python -m benchmarks.span_retraining [--domain D] [--set FIELD=VALUE]
        [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from PIL import Image
from tfx.orchestration import metadata

from aet.components.spans import span_of
from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from benchmarks.movielens_recommendation import (
    held_out_histories,
    ranking_from_lists,
    served_top_k,
)
from benchmarks.reporting import (
    REPO,
    command_line,
    machine,
    run_pipeline,
    work_folder,
    write_results,
)

RESULTS = Path(__file__).parent / "results"
SPANS = 4
CHANGED_FROM = 3  # spans from this one hold the changed data
NPZ = REPO.parent / "shared" / "datasets" / "pneumoniamnist" / "pneumoniamnist.npz"


def write_credit_spans(folder: Path, seed: int = 0) -> None:
    """Span folders of 250 German Credit applicants, the later ones of larger loans."""
    source = default_data_path(load_domain("finance_risk", default_data=True))
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    rng.shuffle(rows)
    by_amount = sorted(rows, key=lambda r: float(r["credit_amount"]) * rng.uniform(0.8, 1.25))
    size = len(rows) // SPANS
    changed = (SPANS - CHANGED_FROM + 1) * size
    late, early = by_amount[-changed:], by_amount[:-changed]
    rng.shuffle(early)
    rng.shuffle(late)
    ordered = early[: (CHANGED_FROM - 1) * size] + late
    for span in range(1, SPANS + 1):
        chunk = ordered[(span - 1) * size : span * size]
        path = folder / f"span-{span:02d}" / "applicants.csv"
        path.parent.mkdir(parents=True)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(chunk[0]))
            writer.writeheader()
            writer.writerows(chunk)


def write_xray_spans(folder: Path, seed: int = 0, size: int = 1200) -> None:
    """Span folders of PneumoniaMNIST X-rays (`normal/NORMAL-i.png`, named so that the
    shipped config's label rules match), the later ones from a flatter, brighter
    acquisition."""
    with np.load(NPZ) as data:
        images = np.concatenate([data[f"{s}_images"] for s in ("train", "val", "test")])
        labels = np.concatenate([data[f"{s}_labels"][:, 0] for s in ("train", "val", "test")])
    order = np.random.default_rng(seed).permutation(len(images))
    for span in range(1, SPANS + 1):
        chosen = order[(span - 1) * size : span * size]
        for index in chosen:
            pixels = images[index]
            if span >= CHANGED_FROM:
                pixels = (pixels * 0.5 + 110).astype(np.uint8)
            label = ("normal", "pneumonia")[labels[index]]
            path = folder / f"span-{span:02d}" / label / f"{label.upper()}-{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            path.write_bytes(buffer.getvalue())


def write_month_spans(folder: Path) -> None:
    """One span folder per calendar month of MovieLens 100K's ratings, oldest first,
    each holding that month's ratings in the shipped log's format."""
    source = default_data_path(load_domain("recommendation", default_data=True))
    header, *lines = source.read_text().splitlines()
    at = [name.split(":")[0] for name in header.split("\t")].index("timestamp")
    months: dict[str, list[str]] = {}
    for line in lines:
        stamp = time.gmtime(float(line.split("\t")[at]))
        months.setdefault(f"{stamp.tm_year}-{stamp.tm_mon:02d}", []).append(line)
    for span, month in enumerate(sorted(months), 1):
        path = folder / f"span-{span:02d}" / f"ratings-{month}.inter"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join([header, *months[month]]) + "\n")


def frozen_auc(model_dir: str, examples_dir: str, config) -> float:
    """AUC of a pushed model's `serving_default` on a span's test examples."""
    label, positive = config.features.label.name, config.features.label.classes[1]
    split_dir = f"{examples_dir}/Split-test"
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(f"{split_dir}/*"), compression_type="GZIP"
    )]  # fmt: skip
    labels = [
        tf.train.Example.FromString(r).features.feature[label].bytes_list.value[0].decode()
        == positive
        for r in records
    ]
    scores = np.concatenate([
        serve(examples=tf.constant(records[start : start + 256]))["probability"].numpy()
        for start in range(0, len(records), 256)
    ])  # fmt: skip
    auc = tf.keras.metrics.AUC(num_thresholds=10_000)
    auc.update_state(np.array(labels, dtype=np.float32), scores)
    return float(auc.result())


def frozen_ndcg(model_dir: str, examples_dir: str, config) -> float:
    """NDCG@10 of a pushed recommender's top 10 (its own history excluded) on a span's
    held-out targets, as a REST client would get them."""
    histories, targets = held_out_histories(examples_dir)
    _, ndcg = ranking_from_lists(served_top_k(model_dir, histories), targets)
    return ndcg


@dataclass(frozen=True)
class SpanPlan:
    title: str
    spans: str  # what the spans hold, for the results
    settings: tuple[str, ...]  # besides data.window=2
    write: Callable[[Path], None]
    frozen: Callable[[str, str, object], float] = frozen_auc  # (model, examples, config)
    metric: str = "AUC"
    changed: int | None = CHANGED_FROM  # the span whose data was changed, if any


PLANS = {
    "finance_risk": SpanPlan(
        "German Credit with a shifted applicant mix",
        "4 spans of 250 applicants; spans 3-4 hold the largest loans. About 38 applicants "
        "in each test split: read the differences with care",
        # About 38 test rows per span: the blessing's AUC floor of 0.65 would refuse span
        # 1's model by chance too often for (a) to exist; the change threshold still gates.
        ("evaluation.confidence_intervals=none", "evaluation.thresholds.auc.lower=0.55"),
        write_credit_spans,
    ),
    "medical_imaging": SpanPlan(
        "PneumoniaMNIST with a changed acquisition",
        "4 spans of 1,200 X-rays (28x28); spans 3-4 at half the contrast, lifted towards "
        "white. About 180 images in each test split",
        # One span's training split (~840 images) at the shipped batch of 128: 7 steps an
        # epoch, 20 epochs as the shipped config trains.
        (
            "evaluation.confidence_intervals=none",
            "training.steps_per_epoch=7",
            "training.train_steps=140",
            "training.eval_steps=2",
            "training.elastic.learning_rate.warmup_steps=14",
        ),
        write_xray_spans,
    ),
    "recommendation": SpanPlan(
        "MovieLens 100K by month",
        "8 monthly spans, 1997-09 to 1998-04 (80 to 288 users with 5 or more ratings in "
        "the month); NDCG@10 on each month's held-out last ratings, seen items excluded",
        # 80-288 users a month at a batch of 64: 4 steps an epoch, at most 40 epochs
        # (early stopping after 8 without a better validation NDCG); a month's blessing
        # floor lowered, as its few test users make NDCG@10 coarse.
        (
            "training.batch_size=64",
            "training.steps_per_epoch=4",
            "training.train_steps=160",
            "training.elastic.early_stopping.patience=8",
            "training.elastic.learning_rate.warmup_steps=16",
            "evaluation.thresholds.ndcg.lower=0.01",
        ),
        write_month_spans,
        frozen_ndcg,
        "NDCG@10",
        None,
    ),
}


def history(output: Path) -> dict[int, dict]:
    lines = (output / "spans" / "history.jsonl").read_text().splitlines()
    return {entry["span"]: entry for entry in map(json.loads, lines)}


def span_examples(output: Path) -> dict[int, str]:
    """Each span's ExampleGen output folder, from the run's ML Metadata."""
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(output / "metadata.sqlite"))
    )
    splits = {}
    for artifact in store.get_artifacts_by_type("Examples"):
        span = span_of(store, artifact)
        if span is not None and "ExampleGen" in artifact.uri and "Transform" not in artifact.uri:
            splits[span] = artifact.uri
    return splits


def _flagged(drift: dict | None) -> str:
    if drift is None:
        return "-"
    return ", ".join(drift["drifted"]) or "none"


def _training_time(entry: dict) -> float:
    """Seconds spent fitting, where the history has them, else the Trainer's wall time."""
    return entry.get("fit_s") or entry["trainer_s"]


def _seconds(entry: dict) -> str:
    fit = entry.get("fit_s")
    return (
        f"{entry['trainer_s']:.1f} ({fit:.1f})" if fit is not None else f"{entry['trainer_s']:.1f}"
    )


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def goals(runs: dict[str, dict[int, dict]], changed: int | None) -> list[str]:
    """The issue's goals, each met or not, from the measured rows."""
    scratch, warm = runs["scratch"], runs["warm"]
    later = sorted(warm)[1:]
    scored = [s for s in later if warm[s]["new"] is not None and scratch[s]["new"] is not None]
    matched = [s for s in scored if warm[s]["new"] >= scratch[s]["new"]]
    fast = [s for s in later if _training_time(warm[s]) <= _training_time(scratch[s]) / 2]
    unchanged = [s for s in later if s != changed]
    false_alarms = [s for s in unchanged if warm[s]["drift"] and warm[s]["drift"]["drifted"]]
    worse = [
        (name, s)
        for name, arm in runs.items()
        for s in later
        if arm[s]["pushed"] and arm[s]["served"] is not None and arm[s]["new"] < arm[s]["served"]
    ]

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    def listed(spans: list[int]) -> str:
        return ", ".join(map(str, spans)) or "none"

    return [
        f"- (c) matches or beats (b): {verdict(len(matched) == len(later))} "
        f"(spans {listed(matched)} of {listed(later)})",
        f"- (c) trains in at most half of (b)'s time: {verdict(len(fast) == len(later))} "
        f"(spans {listed(fast)})",
        f"- no drift alarm on a span whose data was not changed (spans {listed(unchanged)}): "
        + (
            f"{verdict(not false_alarms)}"
            + (f" (alarms on {listed(false_alarms)})" if false_alarms else "")
            if any(warm[s]["drift"] for s in later)
            else "not checked (the kind declares no drift features)"
        ),
        f"- no push of a model worse than the served one on the new span: {verdict(not worse)}"
        + (
            " (" + "; ".join(f"{name} span {s}" for name, s in worse) + ", within the change "
            "threshold the config allows)"
            if worse
            else ""
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", choices=sorted(PLANS), default="finance_risk")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: removed)")
    parser.add_argument("--output-md", type=Path)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="tabulate the runs already in --work-dir instead of running them again",
    )
    args = parser.parse_args(argv)
    plan = PLANS[args.domain]
    config = load_domain(args.domain)
    settings = ["data.window=2", *plan.settings, *args.set]
    started = time.strftime("%Y-%m-%d")
    with work_folder(args.work_dir, "aet-spans-") as work:
        if not args.reuse:
            plan.write(work / "spans")
        runs = {}
        for name, extra in (("scratch", ["training.warm_start=never"]), ("warm", [])):
            output = work / name
            if not args.reuse:
                _, seconds = run_pipeline(
                    args.domain, output, [*settings, *extra], data=str(work / "spans")
                )
                print(f"{name}: spans in {seconds:.0f} s", flush=True)
            runs[name] = history(output)
        first_model = runs["scratch"][1]["pushed"]
        examples = span_examples(work / "scratch")
        rows = []
        for span in sorted(runs["warm"]):
            scratch, warm = runs["scratch"][span], runs["warm"][span]
            frozen = plan.frozen(first_model, examples[span], config) if first_model else None
            rows.append(
                f"| {span} | {_flagged(warm['drift'])} | "
                f"{_flagged(warm.get('drift_from_training'))} | "
                f"{_score(frozen)} | {_score(scratch['new'])} | {_score(warm['new'])} | "
                f"{_seconds(scratch)} | {_seconds(warm)} | "
                f"{scratch['epochs']} | {warm['epochs']} | "
                f"{'yes' if scratch['pushed'] else 'no'} | {'yes' if warm['pushed'] else 'no'} |"
            )
    metric = plan.metric
    table = "\n".join(
        [
            f"# Retraining over spans: {plan.title}",
            "",
            f"Measured {started} on {machine()}.",
            f"Command: `{command_line()}`. Settings: {', '.join(settings)}; the shipped",
            f"{args.domain} config otherwise (seed {config.training.seed}). {plan.spans}.",
            f"{metric} on each span's own test split; (a) span 1's model frozen, (b) from",
            "scratch on the window, (c) warm-started from the served model with the elastic",
            f"callbacks (training.warm_start_share {config.training.warm_start_share} of the",
            "epochs). Drift: what the warm arm's check flagged against the span before, and",
            "against the span the served model trained on where that was older ('-': not",
            "compared). Trainer s: the Trainer component's wall time, and in brackets the",
            "seconds it spent fitting (where measured); the time goal is judged on fitting.",
            "",
            f"| span | drift flagged | vs served data | (a) frozen {metric} |"
            f" (b) scratch {metric} | (c) warm {metric} |"
            " (b) Trainer s (fit) | (c) Trainer s (fit) |"
            " (b) epochs | (c) epochs | (b) pushed | (c) pushed |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Goals (issue 20):",
            "",
            *goals(runs, plan.changed),
            "",
        ]
    )
    write_results(args.output_md or RESULTS / f"span_retraining_{args.domain}.md", table)


if __name__ == "__main__":
    main()
