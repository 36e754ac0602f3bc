"""Retraining over spans of German Credit whose applicant mix shifts: the first model
frozen, against a model trained from scratch on the window of recent spans, against the
warm-started elastic model (the default), each scored on every new span's test split.

German Credit in a fixed random order is cut into four spans of 250 applicants. The
first two are random; the last 500 applicants are the ones with the largest loans
(credit amount, with a little noise), so spans 3 and 4 ask for more money for longer:
span 3 should be flagged against span 2, and span 4 (like span 3) not.

Both runs go through `aet run finance_risk --data SPANS` as a user would (one pipeline
run per span, `data.window=2`, the default `drift.policy: retrain`); the from-scratch
run sets `training.warm_start=never`. (a) is span 1's pushed model scored on each
span's test split (the same split the Evaluator reads); (b) and (c) are the Evaluator's
AUC of the new model, with the Trainer's wall time, and whether it was pushed.

    .venv/bin/python -m benchmarks.span_retraining [--set FIELD=VALUE] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from tfx.orchestration import metadata

from aet.components.spans import span_of
from aet.pipelines.data_sources import default_data_path
from aet.pipelines.domains import load_domain
from benchmarks.reporting import command_line, machine, run_pipeline, work_folder, write_results

RESULTS = Path(__file__).parent / "results" / "span_retraining.md"
SPAN_ROWS = 250
SPANS = 4
SHIFTED_FROM = 3  # spans from this one hold the largest loans


def write_spans(folder: Path, seed: int = 0) -> None:
    """Span folders of German Credit applicants, the later ones of larger loans."""
    source = default_data_path(load_domain("finance_risk", default_data=True))
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    rng.shuffle(rows)
    by_amount = sorted(rows, key=lambda r: float(r["credit_amount"]) * rng.uniform(0.8, 1.25))
    shifted = (SPANS - SHIFTED_FROM + 1) * SPAN_ROWS
    late, early = by_amount[-shifted:], by_amount[:-shifted]
    rng.shuffle(early)
    rng.shuffle(late)
    ordered = early[: (SHIFTED_FROM - 1) * SPAN_ROWS] + late
    for span in range(1, SPANS + 1):
        chunk = ordered[(span - 1) * SPAN_ROWS : span * SPAN_ROWS]
        path = folder / f"span-{span:02d}" / "applicants.csv"
        path.parent.mkdir(parents=True)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(chunk[0]))
            writer.writeheader()
            writer.writerows(chunk)


def history(output: Path) -> dict[int, dict]:
    lines = (output / "spans" / "history.jsonl").read_text().splitlines()
    return {entry["span"]: entry for entry in map(json.loads, lines)}


def test_splits(output: Path) -> dict[int, str]:
    """Each span's test-split folder, from the run's ML Metadata."""
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(output / "metadata.sqlite"))
    )
    splits = {}
    for artifact in store.get_artifacts_by_type("Examples"):
        span = span_of(store, artifact)
        if span is not None and "CsvExampleGen" in artifact.uri:
            splits[span] = f"{artifact.uri}/Split-test"
    return splits


def frozen_auc(model_dir: str, split_dir: str, label: str, positive: str) -> float:
    """AUC of a pushed model's `serving_default` on a span's test examples."""
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(f"{split_dir}/*"), compression_type="GZIP"
    )]  # fmt: skip
    labels = [
        tf.train.Example.FromString(r).features.feature[label].bytes_list.value[0].decode()
        == positive
        for r in records
    ]
    scores = serve(examples=tf.constant(records))["probability"].numpy()
    auc = tf.keras.metrics.AUC(num_thresholds=10_000)
    auc.update_state(np.array(labels, dtype=np.float32), scores)
    return float(auc.result())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--work-dir", type=Path, help="keep the runs here (default: removed)")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    config = load_domain("finance_risk")
    label, positive = config.features.label.name, config.features.label.classes[1]
    # About 38 test rows per span: the blessing's AUC floor of 0.65 would refuse span 1's
    # model by chance too often for (a) to exist; the change threshold still gates.
    settings = [
        "data.window=2",
        "evaluation.confidence_intervals=none",
        "evaluation.thresholds.auc.lower=0.55",
        *args.set,
    ]
    started = time.strftime("%Y-%m-%d")
    with work_folder(args.work_dir, "aet-spans-") as work:
        write_spans(work / "credit")
        runs = {}
        for name, extra in (("scratch", ["training.warm_start=never"]), ("warm", [])):
            output = work / name
            _, seconds = run_pipeline(
                "finance_risk", output, [*settings, *extra], data=str(work / "credit")
            )
            runs[name] = history(output)
            print(f"{name}: {len(runs[name])} spans in {seconds:.0f} s")
        first_model = runs["scratch"][1]["pushed"]
        splits = test_splits(work / "scratch")
        rows = []
        for span in range(1, SPANS + 1):
            scratch, warm = runs["scratch"][span], runs["warm"][span]
            drift = warm["drift"]
            drifted = ", ".join(drift["drifted"]) if drift else "(first span)"
            rows.append(
                f"| {span} | {drifted or 'none'} | "
                f"{frozen_auc(first_model, splits[span], label, positive):.4f} | "
                f"{scratch['new']:.4f} | {warm['new']:.4f} | "
                f"{scratch['trainer_s']:.1f} | {warm['trainer_s']:.1f} | "
                f"{'yes' if scratch['pushed'] else 'no'} | {'yes' if warm['pushed'] else 'no'} |"
            )
    table = "\n".join(
        [
            "# Retraining over spans: German Credit with a shifted applicant mix",
            "",
            f"Measured {started} on {machine()}.",
            f"Command: `{command_line()}`. Settings: {', '.join(settings)}; the shipped",
            f"finance_risk config otherwise (440 training steps, seed 42). {SPANS} spans of",
            f"{SPAN_ROWS} applicants; spans {SHIFTED_FROM}-{SPANS} hold the largest loans.",
            "AUC on each span's own test split (about 38 applicants: read the differences",
            "with care); (a) span 1's model frozen, (b) from scratch on the window,",
            "(c) warm-started from the served model with the elastic callbacks. Drift: what",
            "the warm run's check flagged against the span before.",
            "",
            "| span | drift flagged | (a) frozen AUC | (b) scratch AUC | (c) warm AUC |"
            " (b) Trainer s | (c) Trainer s | (b) pushed | (c) pushed |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    write_results(args.output_md, table)


if __name__ == "__main__":
    main()
