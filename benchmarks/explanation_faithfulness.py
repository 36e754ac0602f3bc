"""Are the explanations faithful to the model? Measured, per data kind, on finished runs.

Tabular (a finished `aet run finance_risk`, its test split):
- completeness: |sum of attributions - (probability - baseline probability)| of
  integrated gradients at several step counts;
- deletion: the k features a method ranks first are set to the baseline (a number to
  its training mean, a category to its most frequent value) and the drop of the
  predicted probability is averaged; integrated gradients (largest positive first),
  the CLS token's attention (largest first) and a random order (mean of 5 draws);
- the two-feature data set (benchmarks/two_feature_domain.py, 3 seeds): the share of
  rows whose informative features that moved the prediction rank first;
- latency: p50/p99 of one-example calls to `serving_default` and `explain` of the
  pushed SavedModel, in this process.

    .venv/bin/python -m benchmarks.explanation_faithfulness --tabular-run runs/finance_risk

Probabilities here are the Keras model's own (a class-weighted model's, before the
served model undoes the weights): a ranking's faithfulness is the same either way.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
import tensorflow_transform as tft

from aet.components.evaluation import load_keras_model
from aet.config import DomainConfig
from aet.config.contract import EXPLANATION
from aet.kinds.tabular.explanations import TabularExplainer
from benchmarks.reporting import command_line, machine, write_results
from benchmarks.two_feature_domain import (
    CATEGORICAL,
    NUMERIC,
    moved_first_share,
    train_two_feature_model,
    two_feature_data,
)

RESULTS = Path(__file__).parent / "results" / "explanation_faithfulness.md"
STEP_COUNTS = (8, 16, 32, 64, 128)
DELETED = (1, 2, 3, 5)
RANDOM_DRAWS = 5
LATENCY_CALLS = 200


def test_records(summary: dict, limit: int | None = None) -> list[bytes]:
    """The serialized raw examples of a run's test split."""
    files = tf.io.gfile.glob(f"{summary['examples_dir']}/Split-test/*")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [record.numpy() for record in (dataset.take(limit) if limit else dataset)]


def run_parts(run_dir: Path) -> tuple[dict, DomainConfig, tf.keras.Model, tft.TFTransformOutput]:
    summary = json.loads((run_dir / "run_summary.json").read_text())
    if not summary.get("pushed_model_dir"):
        raise SystemExit(f"{run_dir}: the run pushed no model to explain")
    config = DomainConfig.parse_obj(summary["config"])
    model = load_keras_model(summary["pushed_model_dir"])
    return summary, config, model, tft.TFTransformOutput(summary["transform_graph_dir"])


def model_inputs(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, records: list[bytes]
) -> dict[str, tf.Tensor]:
    raw = tf.io.parse_example(records, tf_transform_output.raw_feature_spec())
    transformed = tf_transform_output.transform_features_layer()(raw)
    return {name: transformed[name] for name in model.input}


def at_baseline(inputs: dict[str, tf.Tensor], names: list[str], chosen: np.ndarray) -> dict:
    """`inputs` with, per row, the features `chosen` ([rows, k] indices) at the
    baseline: 0 is both a z-scored mean and the id of the most frequent category."""
    reset = np.zeros((len(chosen), len(names)), bool)
    np.put_along_axis(reset, chosen, True, axis=1)
    return {
        key: tf.where(reset[:, [index]], tf.zeros_like(inputs[key]), inputs[key])
        for index, key in enumerate(names)
    }


def deletion_drops(
    probability: Callable[[dict], np.ndarray],
    inputs: dict[str, tf.Tensor],
    names: list[str],
    ranking: np.ndarray,
) -> dict[int, float]:
    """k -> the mean drop of the probability once the first k of `ranking` are reset."""
    before = probability(inputs)
    return {
        k: float(np.mean(before - probability(at_baseline(inputs, names, ranking[:, :k]))))
        for k in DELETED
    }


def latency_ms(signature, records: list[bytes]) -> tuple[float, float]:
    timings = []
    for call in range(LATENCY_CALLS + 10):
        example = tf.constant([records[call % len(records)]])
        started = time.perf_counter()
        signature(examples=example)
        timings.append((time.perf_counter() - started) * 1000)
    steady = timings[10:]  # the first calls trace and warm caches
    return float(np.percentile(steady, 50)), float(np.percentile(steady, 99))


def two_feature_shares(seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, list[float]]:
    shares: dict[str, list[float]] = {"integrated gradients": [], "CLS attention": []}
    for seed in seeds:
        model = train_two_feature_model(rows=1200, epochs=10, seed=seed)
        values, _ = two_feature_data(rows=1000, seed=100 + seed)
        inputs = {name: tf.constant(value) for name, value in values.items()}
        explainer = TabularExplainer(model, NUMERIC, list(CATEGORICAL))
        attributions, _ = explainer.attributions(inputs, lambda out: out[:, 0], steps=32)
        c0_ids = values["c0_xf"][:, 0]
        rankings = {
            "integrated gradients": np.argsort(-np.abs(attributions.numpy()), axis=1),
            "CLS attention": np.argsort(-explainer.cls_attention(inputs).numpy(), axis=1),
        }
        for method, ranking in rankings.items():
            shares[method].append(moved_first_share(explainer.features, c0_ids, ranking))
    return shares


def tabular_section(run_dir: Path) -> str:
    summary, config, model, tf_transform_output = run_parts(run_dir)
    records = test_records(summary)
    inputs = model_inputs(model, tf_transform_output, records)
    features = config.features
    explainer = TabularExplainer(model, features.numeric, features.categorical)
    names = [f"{name}_xf" for name in explainer.features]

    def positive(output: tf.Tensor) -> tf.Tensor:
        return output[:, -1]

    def probability(batch: dict) -> np.ndarray:
        return positive(model(batch, training=False)).numpy()

    lines = [
        f"## Tabular: `{config.name}`, {len(records)} test rows, "
        f"{len(explainer.features)} features\n",
        "Completeness of integrated gradients (|sum of attributions - change|, in probability):\n",
        "| steps | mean gap | p95 gap | max gap | mean abs change |",
        "|---|---|---|---|---|",
    ]
    attributions = None
    for steps in STEP_COUNTS:
        found, baseline = explainer.attributions(inputs, positive, steps)
        change = probability(inputs) - baseline.numpy()
        gap = np.abs(found.numpy().sum(axis=1) - change)
        lines.append(
            f"| {steps} | {gap.mean():.4f} | {np.percentile(gap, 95):.4f} | {gap.max():.4f} |"
            f" {np.abs(change).mean():.4f} |"
        )
        if steps == config.serving.explanation_steps:
            attributions = found.numpy()
    rng = np.random.default_rng(0)
    rankings = {
        "integrated gradients (largest first)": np.argsort(-attributions, axis=1),
        "CLS attention (largest first)": np.argsort(
            -explainer.cls_attention(inputs).numpy(), axis=1
        ),
    }
    drops = {
        method: deletion_drops(probability, inputs, names, ranking)
        for method, ranking in rankings.items()
    }
    random_drops = [
        deletion_drops(
            probability, inputs, names, np.argsort(rng.random(attributions.shape), axis=1)
        )
        for _ in range(RANDOM_DRAWS)
    ]
    drops["random order (mean of 5)"] = {
        k: float(np.mean([draw[k] for draw in random_drops])) for k in DELETED
    }
    lines += [
        "",
        f"Deletion: mean drop of P({features.label.classes[-1]}) once the first k "
        "features of each ranking are set to the baseline (higher: more faithful):\n",
        "| ranking | " + " | ".join(f"k={k}" for k in DELETED) + " |",
        "|---|" + "---|" * len(DELETED),
    ]
    for method, by_k in drops.items():
        lines.append(f"| {method} | " + " | ".join(f"{by_k[k]:+.4f}" for k in DELETED) + " |")
    shares = two_feature_shares()
    lines += [
        "",
        "Two-feature data set (label from n0 and c0 of 8 features; 1,000 held-out rows, "
        "seeds 0-2): share of rows whose informative features rank first:\n",
        "| ranking | share (per seed) |",
        "|---|---|",
    ]
    for method, values in shares.items():
        lines.append(f"| {method} | {', '.join(f'{v:.3f}' for v in values)} |")
    served = tf.saved_model.load(summary["pushed_model_dir"]).signatures
    lines += [
        "",
        f"Latency of one-example calls, in process ({LATENCY_CALLS} calls after 10 warm-up "
        f"calls; `explain` at {config.serving.explanation_steps} steps):\n",
        "| signature | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for name in ("serving_default", EXPLANATION):
        p50, p99 = latency_ms(served[name], records)
        lines.append(f"| `{name}` | {p50:.2f} | {p99:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabular-run", type=Path, help="a finished `aet run` of a CSV domain")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sections = []
    if args.tabular_run:
        sections.append(tabular_section(args.tabular_run))
    if not sections:
        parser.error("give at least one run to measure")
    header = (
        "# Explanation faithfulness\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()} with\n`{command_line()}`.\n\n"
    )
    write_results(args.output_md, header + "\n".join(sections))


if __name__ == "__main__":
    main()
