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

Images (a finished `aet run` of an image domain, e.g. PneumoniaMNIST): deletion and
insertion curves. Pixels are ranked by the Grad-CAM map of the answered class (the
grid upsampled to the image) or at random; deletion replaces the top-ranked share of
the pixels by a blurred copy of the image and follows the answered class's probability
as the share grows, insertion starts from the blurred image and reveals them; each
answered class apart. The area under each curve summarises it: lower is more faithful
for deletion, higher for insertion. Latency as above, for one image.

Recommendation (a finished `aet run recommendation`, its test histories): for each
history's top recommendation, the m history items a method ranks first (gradient x
input, the last position's attention, or random) are removed and the item's rank among
the whole catalogue measured again; the mean rise of its rank (higher: more faithful).

    .venv/bin/python -m benchmarks.explanation_faithfulness --tabular-run runs/finance_risk \
        --image-run runs/pneumonia --recommendation-run runs/recommendation

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
from aet.components.heat_maps.grad_cam import GradCam
from aet.components.models.sasrec import mask_items
from aet.config import DomainConfig
from aet.config.contract import EXPLANATION
from aet.kinds.interactions.explanations import HistoryExplainer
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


def latency_table(summary: dict, records: list[bytes], calls: str) -> list[str]:
    """The lines of a results table: p50/p99 of `serving_default` and `explain` of the
    run's pushed SavedModel on one record at a time, in this process."""
    served = tf.saved_model.load(summary["pushed_model_dir"]).signatures
    lines = [
        "",
        f"Latency of {calls}, in process ({LATENCY_CALLS} calls after 10 warm-up calls):\n",
        "| signature | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for name in ("serving_default", EXPLANATION):
        p50, p99 = latency_ms(served[name], records)
        lines.append(f"| `{name}` | {p50:.2f} | {p99:.2f} |")
    return lines


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
    lines += latency_table(
        summary,
        records,
        f"one-example calls (`explain` at {config.serving.explanation_steps} steps)",
    )
    return "\n".join(lines) + "\n"


SHARES = np.linspace(0.0, 1.0, 11)  # of the pixels deleted or inserted, per curve point
IMAGES = 300
REMOVED = (1, 2, 3)
HISTORIES = 500


def _curve_area(values: list[float]) -> float:
    return float(np.trapz(values, SHARES))


BLUR_SIGMA = 3.0  # pixels: what a deleted pixel becomes, and where insertion starts


def blurred(images: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """[n, h, w, c] images under a Gaussian blur (edges repeated): the baseline of the
    pixel curves. A constant baseline is not neutral for an image model (a model can
    answer a flat image with certainty) and speckles of it push images off the data;
    a blur removes detail and keeps an image an image (Petsiuk et al., 2018, RISE)."""
    radius = int(3 * sigma)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    out = images.astype(np.float32)
    for axis in (1, 2):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in range(4)], "edge")
        out = sum(
            weight * np.take(padded, range(i, i + images.shape[axis]), axis=axis)
            for i, weight in enumerate(kernel)
        )
    return out


def pixel_curves(
    probability: Callable[[np.ndarray], np.ndarray], images: np.ndarray, order: np.ndarray
) -> tuple[list[float], list[float]]:
    """(deletion, insertion) curves: the mean probability at each share of SHARES when
    the first pixels of `order` ([images, pixels], best first) are blurred, or revealed
    in a blurred image."""
    flat = images.reshape(len(images), -1, images.shape[-1])
    base = blurred(images).reshape(flat.shape)
    deletion, insertion = [], []
    for share in SHARES:
        chosen = np.zeros(flat.shape[:2], bool)
        np.put_along_axis(chosen, order[:, : round(share * flat.shape[1])], True, axis=1)
        deleted = np.where(chosen[..., None], base, flat).reshape(images.shape)
        inserted = np.where(chosen[..., None], flat, base).reshape(images.shape)
        deletion.append(float(probability(deleted).mean()))
        insertion.append(float(probability(inserted).mean()))
    return deletion, insertion


def image_section(run_dir: Path) -> str:
    summary, config, model, tf_transform_output = run_parts(run_dir)
    records = test_records(summary, IMAGES)
    (name,) = model.input
    images = model_inputs(model, tf_transform_output, records)[name].numpy()
    cam = GradCam(model)
    inputs = {name: tf.constant(images)}
    answered = cam.predicted_classes(inputs)
    heat = cam.maps(inputs, answered)[..., tf.newaxis]
    upsampled = tf.image.resize(heat, images.shape[1:3]).numpy()[..., 0]
    grad_cam_order = np.argsort(-upsampled.reshape(len(images), -1), axis=1)
    answered = answered.numpy()

    def probability_of(classes: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        def probability(batch: np.ndarray) -> np.ndarray:
            output = model({name: tf.constant(batch, tf.float32)}, training=False).numpy()
            if output.shape[-1] == 1:  # a sigmoid's positive class, or its complement
                return np.where(classes == 1, output[:, 0], 1.0 - output[:, 0])
            return output[np.arange(len(output)), classes]

        return probability

    rng = np.random.default_rng(0)
    lines = [
        f"## Images: `{config.name}`, {len(images)} test images of "
        f"{images.shape[1]}x{images.shape[2]}\n",
        "Probability of the answered class as the top-ranked share of pixels is deleted "
        f"(blurred, sigma {BLUR_SIGMA:g} px) or inserted (into the blurred image), for the "
        "images of each answered class apart (a blur is itself evidence for some classes); "
        "area under the curve:\n",
        "| answered | images | ranking | deletion AUC (lower: more faithful) | "
        "insertion AUC (higher) | deletion at 0/20/50 % | insertion at 0/20/50 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, label in enumerate(config.features.label.classes):
        members = answered == index
        if not members.any():
            continue
        subset, classes = images[members], answered[members]
        probability = probability_of(classes)
        ranked = grad_cam_order[members]
        curves = {"Grad-CAM (hottest first)": pixel_curves(probability, subset, ranked)}
        draws = [
            pixel_curves(probability, subset, np.argsort(rng.random(ranked.shape), axis=1))
            for _ in range(3)
        ]
        curves["random order (mean of 3)"] = tuple(
            list(np.mean([draw[i] for draw in draws], axis=0)) for i in (0, 1)
        )
        for method, (deletion, insertion) in curves.items():
            lines.append(
                f"| {label} | {int(members.sum())} | {method} | {_curve_area(deletion):.4f} | "
                f"{_curve_area(insertion):.4f} | "
                f"{deletion[0]:.3f} / {deletion[2]:.3f} / {deletion[5]:.3f} | "
                f"{insertion[0]:.3f} / {insertion[2]:.3f} / {insertion[5]:.3f} |"
            )
    lines += latency_table(summary, records, "one-image calls")
    return "\n".join(lines) + "\n"


def without_positions(history: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Each row of `history` with the positions `removed` ([rows, m]) dropped and the
    rest left-aligned again (0 pads)."""
    keep = np.ones(history.shape, bool)
    np.put_along_axis(keep, removed, False, axis=1)
    keep &= history > 0
    out = np.zeros_like(history)
    for row in range(len(history)):
        kept = history[row][keep[row]]
        out[row, : len(kept)] = kept
    return out


def rank_of(model, history: np.ndarray, seen: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The 0-based rank of each row's item among the catalogue after `history`, with the
    original history's items (`seen`) excluded as serving excludes them."""
    scores = mask_items(model.item_scores(tf.constant(history)), tf.constant(seen)).numpy()
    target = scores[np.arange(len(items)), items]
    return (scores > target[:, None]).sum(axis=1)


def recommendation_section(run_dir: Path) -> str:
    summary, config, model, tf_transform_output = run_parts(run_dir)
    records = test_records(summary, HISTORIES)
    history = model_inputs(model, tf_transform_output, records)[model.history_input].numpy()
    history = history[(history > 0).sum(axis=1) > max(REMOVED)]  # enough items to remove
    explainer = HistoryExplainer(model)
    scores = mask_items(model.item_scores(tf.constant(history)), tf.constant(history)).numpy()
    top = scores.argmax(axis=1)
    real = history > 0
    contributions = explainer.contributions(tf.constant(history), tf.constant(top[:, None]))
    rankings = {
        "gradient x input (largest first)": np.where(real, contributions.numpy()[:, 0], -np.inf),
        "last position's attention (largest first)": np.where(
            real, explainer.last_attention(tf.constant(history)).numpy(), -np.inf
        ),
    }
    rng = np.random.default_rng(0)
    rise: dict[str, dict[int, float]] = {}
    for method, weights in rankings.items():
        order = np.argsort(-weights, axis=1)
        rise[method] = {
            m: float(rank_of(model, without_positions(history, order[:, :m]), history, top).mean())
            for m in REMOVED
        }
    draws = [
        np.argsort(-np.where(real, rng.random(history.shape), -np.inf), axis=1) for _ in range(3)
    ]
    rise["random order (mean of 3)"] = {
        m: float(
            np.mean(
                [
                    rank_of(model, without_positions(history, o[:, :m]), history, top).mean()
                    for o in draws
                ]
            )
        )
        for m in REMOVED
    }
    lines = [
        f"## Recommendation: `{config.name}`, {len(history)} test histories "
        f"(more than {max(REMOVED)} items each)\n",
        "Mean rank (0 = first) of each history's top recommendation once the m history "
        "items a method ranks first are removed (higher: more faithful; 0 before removal):\n",
        "| ranking | " + " | ".join(f"m={m}" for m in REMOVED) + " |",
        "|---|" + "---|" * len(REMOVED),
    ]
    for method, by_m in rise.items():
        lines.append(f"| {method} | " + " | ".join(f"{by_m[m]:.1f}" for m in REMOVED) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabular-run", type=Path, help="a finished `aet run` of a CSV domain")
    parser.add_argument("--image-run", type=Path, help="a finished `aet run` of an image domain")
    parser.add_argument("--recommendation-run", type=Path, help="a finished recommender run")
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sections = []
    if args.tabular_run:
        sections.append(tabular_section(args.tabular_run))
    if args.image_run:
        sections.append(image_section(args.image_run))
    if args.recommendation_run:
        sections.append(recommendation_section(args.recommendation_run))
    if not sections:
        parser.error("give at least one run to measure")
    header = (
        "# Explanation faithfulness\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()} with\n`{command_line()}`.\n\n"
    )
    write_results(args.output_md, header + "\n".join(sections))


if __name__ == "__main__":
    main()
