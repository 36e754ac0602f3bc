"""Elastic training against a fixed schedule with the same budget, on two datasets.

For each dataset x schedule x seed it trains one model and records the epochs it took
to reach a target validation metric (or "not reached"), the best validation metric and
its epoch, the final one, the test-split AUC/accuracy of the final model and the wall
time; it writes one row per dataset x schedule (mean ± std over seeds) and the per-seed
rows to benchmarks/results/elastic_vs_fixed.md (overwritten: the latest measurement).

- elastic: the project's callbacks (components.elastic.build_callbacks) adapt the
  learning rate (linear warm-up, cuts on a plateau) and the dropout (it follows the
  train/validation AUC gap) while training.
- fixed: the same model, optimizer, base learning rate, weight decay and dropout, kept
  constant from the first step to the last.

"Same budget" means the same number of epochs and optimizer steps for both schedules
(no early stopping on either side), the same seed (so the same initial weights and data
order within a seed) and the same data. The datasets:

- finance_risk (German Credit, ~700 training rows): the real pipeline, one
  `python -m aet.pipelines.cli run finance_risk --output DIR --set training.seed=N ...`
  subprocess per run (~90 s each on 2 cores); validation metrics are the Trainer's
  per-epoch history, test metrics the Evaluator's (overall slice of the test split).
- pneumoniamnist (PneumoniaMNIST 28x28, 4707 training images, official val/test
  splits): the medical_imaging domain's attention CNN, without augmentation, trained
  in this process on arrays read from ../shared/datasets/pneumoniamnist.

Full measurement (about 20 minutes on 2 idle CPU cores: 6 finance_risk pipelines of
~90 s, 6 PneumoniaMNIST runs of 60 epochs of ~1.6 s):

    .venv/bin/python -m benchmarks.elastic_vs_fixed

A quick smoke run (nothing written to the results file):

    .venv/bin/python -m benchmarks.elastic_vs_fixed --seeds 0 --pneumonia-epochs 2 \
        --finance-extra-set training.train_steps=22 --output-md /tmp/elastic_vs_fixed.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

from aet.components.elastic import EventLog, build_callbacks
from aet.components.elastic.learning_rate import CALLBACK_NAME as LEARNING_RATE_CALLBACK
from aet.components.elastic.regularisation import CALLBACK_NAME as REGULARISATION_CALLBACK
from aet.components.elastic.regularisation import variable_dropouts
from aet.components.models.attention_cnn import build_attention_cnn
from aet.components.optimizers import AdamWVariableDecay
from aet.config import (
    AugmentationConfig,
    ElasticConfig,
    ImageConfig,
    LearningRateConfig,
    ModelConfig,
    RegularisationConfig,
)
from aet.pipelines.domains import load_domain
from benchmarks.reporting import REPO, command_line, machine, mean_std, run_pipeline

RESULTS = Path(__file__).parent / "results" / "elastic_vs_fixed.md"
DATASETS = ("finance_risk", "pneumoniamnist")
SCHEDULES = ("elastic", "fixed")
# Events that change training; the AttentionMonitor's alarms only observe it.
ADAPTING_CALLBACKS = {LEARNING_RATE_CALLBACK, REGULARISATION_CALLBACK}

# --- finance_risk: `--set` overrides on top of domains/finance_risk/config.yaml ----------
# elastic: the shipped warm-up + plateau cuts, plus the regularisation callback with its
# defaults (after 5 settling epochs, dropout +/-0.05 when the train-val AUC gap stays
# above 0.05 / below -0.03 for 2 epochs). `{}` switches the null section on
# (aet.config.apply_override).
FINANCE_ELASTIC_SET = ("training.elastic.regularisation={}",)
# fixed: the shipped base rate, weight decay and dropout, never changed.
FINANCE_FIXED_SET = ("training.elastic.learning_rate=null", "training.elastic.regularisation=null")
FINANCE_SETS = {"elastic": FINANCE_ELASTIC_SET, "fixed": FINANCE_FIXED_SET}
FINANCE_METRIC = "val_auc"
# The Trainer validates on the whole ~150-row eval split; its AUC peaks at 0.76-0.80.
FINANCE_TARGET = 0.75

# --- pneumoniamnist: a standalone Keras model ------------------------------------------
PNEUMONIA_NPZ = REPO.parent / "shared" / "datasets" / "pneumoniamnist" / "pneumoniamnist.npz"
PNEUMONIA_METRIC = "val_auc"
PNEUMONIA_INPUT = "image"
PNEUMONIA_TARGET = 0.99  # the val split is easy: both schedules pass 0.97 by epoch 3
PNEUMONIA_EPOCHS = 60  # ~1.6 s an epoch on 2 idle cores: ~100 s a run, 10 min for 6


@dataclass(frozen=True)
class PneumoniaSettings:
    """What both schedules share besides the model: batch size, base rate, weight decay."""

    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4


# The medical_imaging domain's attention CNN (components/models/attention_cnn.py): two
# conv + CBAM stages to 7x7, 49 tokens of width 32, one transformer block; without
# augmentation, so that the schedules alone make the difference.
PNEUMONIA_MODEL = ModelConfig(
    architecture="attention_cnn",
    conv_filters=[16, 32],
    embedding_dim=32,
    num_layers=1,
    num_heads=4,
    dropout=0.1,
    attention_dropout=0.1,
    augmentation=AugmentationConfig(rotation=0, contrast=0, translation=0),
)
PNEUMONIA = PneumoniaSettings()
PNEUMONIA_TRAIN_IMAGES = 4707  # README.md next to the npz
STEPS_PER_EPOCH = -(-PNEUMONIA_TRAIN_IMAGES // PNEUMONIA.batch_size)  # 37 batches of 128
# The elastic schedule for PneumoniaMNIST, chosen from a fixed-rate run (seed 0, 60
# epochs): val AUC peaks near 0.996 by epoch 6, then val_loss jumps between 0.08 and 1.8
# while the training loss falls to 1e-4 (memorised by epoch 40; test AUC 0.96 at epoch 6,
# 0.87 at epoch 60). So: warm up over the first 2 epochs (74 steps), monitor val_loss
# (the 524-image val split; its AUC saturates) and halve the rate after 3 epochs without
# a new best, down to 1e-5. The train-val AUC gap stays within +-0.002 while the model
# generalises and passes 0.01 from epoch ~7; dropout (start 0.1, every VariableDropout)
# rises by 0.05 after 2 epochs above 0.01, up to 0.4, and falls only after 2 epochs
# below -0.005 (val noise puts the gap a little under 0 early on). Weight decay stays.
PNEUMONIA_ELASTIC = ElasticConfig(
    monitor="val_loss",
    learning_rate=LearningRateConfig(
        warmup_steps=2 * STEPS_PER_EPOCH,
        factor=0.5,
        patience=3,
        cooldown=0,
        min_learning_rate=1e-5,
        restore_best_on_cut=False,
    ),
    early_stopping=None,
    attention_monitor=None,
    regularisation=RegularisationConfig(
        metric="auc",
        widen_above=0.01,
        narrow_below=-0.005,
        patience=2,
        step=0.05,
        min_rate=0.0,
        max_rate=0.4,
        weight_decay_factor=1.0,
    ),
)
# The fixed schedule: only the loggers (TensorBoard, CSV) that build_callbacks adds.
PNEUMONIA_FIXED = ElasticConfig(
    monitor="val_loss",
    learning_rate=None,
    early_stopping=None,
    attention_monitor=None,
    regularisation=None,
)
PNEUMONIA_CONFIGS = {"elastic": PNEUMONIA_ELASTIC, "fixed": PNEUMONIA_FIXED}
ADAPTATIONS = {"monitor", "learning_rate", "regularisation"}  # the fields the header shows


@dataclass
class RunResult:
    dataset: str
    schedule: str
    seed: int
    epochs: int
    epochs_to_target: int | None  # 1-based; None: not reached within the budget
    best: float
    best_epoch: int  # 1-based
    final: float
    test_auc: float | None
    test_accuracy: float | None
    adaptations: int
    final_learning_rate: float | None
    final_dropout: float | None
    wall_time_s: float


def target_summary(values: Sequence[float], target: float) -> dict[str, float | int | None]:
    """Epochs to the target (1-based, None if never), the best value and its epoch, the last."""
    reached = next((epoch for epoch, v in enumerate(values, 1) if v >= target), None)
    best_epoch = int(np.argmax(values)) + 1
    return {
        "epochs": len(values),
        "epochs_to_target": reached,
        "best": float(values[best_epoch - 1]),
        "best_epoch": best_epoch,
        "final": float(values[-1]),
    }


def count_adaptations(events: Sequence[dict]) -> int:
    return sum(event["callback"] in ADAPTING_CALLBACKS for event in events)


# --- finance_risk ------------------------------------------------------------------------


def finance_overrides(schedule: str, seed: int, extra_set: Sequence[str]) -> list[str]:
    return [f"training.seed={seed}", *FINANCE_SETS[schedule], *extra_set]


def finance_history(summary: dict) -> dict:
    """The Trainer's per-epoch history and events, from the history.json the run
    summary names."""
    return json.loads(Path(summary["training"]["history_file"]).read_text())


def last_change(events: Sequence[dict], what: str, default: float) -> float:
    """The value the last event on `what` set (the epoch logs hold the value before an
    end-of-epoch change), or `default` when nothing changed it."""
    changes = [e["to"] for e in events if e["callback"] in ADAPTING_CALLBACKS and e["what"] == what]
    return float(changes[-1]) if changes else default


def run_finance(
    schedule: str, seed: int, work_dir: Path, extra_set: Sequence[str], target: float
) -> RunResult:
    overrides = finance_overrides(schedule, seed, extra_set)
    config = load_domain("finance_risk", overrides)  # fails here, not in the subprocess
    output = work_dir / "finance_risk" / f"{schedule}-seed{seed}"
    summary, wall_time = run_pipeline("finance_risk", output, overrides)
    trained = finance_history(summary)
    history = trained["history"]
    overall = summary.get("metrics", {}).get("overall", {})
    events = trained.get("events", [])
    return RunResult(
        dataset="finance_risk",
        schedule=schedule,
        seed=seed,
        **target_summary(history[FINANCE_METRIC], target),
        test_auc=overall.get("auc"),
        test_accuracy=overall.get("accuracy"),
        adaptations=count_adaptations(events),
        final_learning_rate=last_change(events, "learning_rate", config.training.learning_rate),
        final_dropout=last_change(events, "dropout_rate", config.model.dropout),
        wall_time_s=wall_time,
    )


# --- pneumoniamnist ----------------------------------------------------------------------


def load_pneumonia(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(images uint8 N x 28 x 28, labels N) per split: train, val, test."""
    with np.load(path) as data:
        return {
            split: (data[f"{split}_images"], data[f"{split}_labels"].reshape(-1))
            for split in ("train", "val", "test")
        }


def to_dataset(
    images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    x = (images.astype("float32") / 255.0)[..., None]
    y = labels.astype("float32")[:, None]
    dataset = tf.data.Dataset.from_tensor_slices(({PNEUMONIA_INPUT: x}, y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    """n / (k * n_c), as the Trainer computes them."""
    counts = np.bincount(labels.astype(int), minlength=2)
    return {c: float(len(labels) / (len(counts) * n)) for c, n in enumerate(counts) if n}


def pneumonia_model(settings: PneumoniaSettings) -> tf.keras.Model:
    """The product's attention CNN over 28x28 grey images, compiled with the Trainer's
    optimizer (AdamW with the decay in a variable, which ElasticRegularisation moves)."""
    model = build_attention_cnn(
        ImageConfig(height=28, width=28, channels=1), PNEUMONIA_MODEL, 2, PNEUMONIA_INPUT
    )
    model.compile(
        optimizer=AdamWVariableDecay(
            learning_rate=settings.learning_rate, weight_decay=settings.weight_decay
        ),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[
            tf.keras.metrics.AUC(name="auc"),
            tf.keras.metrics.BinaryAccuracy(name="accuracy"),
        ],
    )
    return model


def run_pneumonia(
    schedule: str,
    seed: int,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    epochs: int,
    work_dir: Path,
    target: float,
) -> RunResult:
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    started = time.monotonic()
    model = pneumonia_model(PNEUMONIA)
    train = to_dataset(*data["train"], PNEUMONIA.batch_size, shuffle_seed=seed)
    validation = to_dataset(*data["val"], PNEUMONIA.batch_size)
    test = to_dataset(*data["test"], PNEUMONIA.batch_size)
    run_dir = work_dir / "pneumoniamnist" / f"{schedule}-seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    events = EventLog()
    callbacks = build_callbacks(
        PNEUMONIA_CONFIGS[schedule], str(run_dir), PNEUMONIA.learning_rate, events
    )
    history = model.fit(
        train,
        epochs=epochs,
        validation_data=validation,
        class_weight=balanced_class_weights(data["train"][1]),
        callbacks=callbacks,
        verbose=0,
    ).history
    tested = model.evaluate(test, return_dict=True, verbose=0)
    dropouts = variable_dropouts(model)
    return RunResult(
        dataset="pneumoniamnist",
        schedule=schedule,
        seed=seed,
        **target_summary(history[PNEUMONIA_METRIC], target),
        test_auc=float(tested["auc"]),
        test_accuracy=float(tested["accuracy"]),
        adaptations=count_adaptations(events.events),
        final_learning_rate=float(tf.keras.backend.get_value(model.optimizer.learning_rate)),
        final_dropout=float(dropouts[0].rate_variable.numpy()) if dropouts else None,
        wall_time_s=time.monotonic() - started,
    )


# --- the results table -------------------------------------------------------------------


def _number(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


SUMMARY_HEADER = (
    "| dataset | schedule | seeds | epochs (budget) | reached target | epochs to target |"
    " best val | best epoch | final val | test AUC | test accuracy | adaptations |"
    " wall time (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)
RAW_HEADER = (
    "| dataset | schedule | seed | epochs | epochs to target | best val | best epoch |"
    " final val | test AUC | test accuracy | adaptations | final learning rate |"
    " final dropout | wall time (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def summary_rows(results: Sequence[RunResult]) -> str:
    rows = []
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.dataset, result.schedule), []).append(result)
    for (dataset, schedule), runs in groups.items():
        reached = [r.epochs_to_target for r in runs if r.epochs_to_target is not None]
        tests = [r.test_auc for r in runs if r.test_auc is not None]
        accuracies = [r.test_accuracy for r in runs if r.test_accuracy is not None]
        budget = sorted({r.epochs for r in runs})
        rows.append(
            f"| {dataset} | {schedule} | {len(runs)} | {'/'.join(map(str, budget))} |"
            f" {len(reached)}/{len(runs)} | {mean_std(reached, 1)} |"
            f" {mean_std([r.best for r in runs])} | {mean_std([r.best_epoch for r in runs], 1)} |"
            f" {mean_std([r.final for r in runs])} | {mean_std(tests)} | {mean_std(accuracies)} |"
            f" {mean_std([r.adaptations for r in runs], 1)} |"
            f" {mean_std([r.wall_time_s for r in runs], 0)} |\n"
        )
    return "".join(rows)


def raw_row(r: RunResult) -> str:
    cells = [
        r.dataset,
        r.schedule,
        str(r.seed),
        str(r.epochs),
        str(r.epochs_to_target) if r.epochs_to_target is not None else "not reached",
        f"{r.best:.4f}",
        str(r.best_epoch),
        f"{r.final:.4f}",
        _number(r.test_auc),
        _number(r.test_accuracy),
        str(r.adaptations),
        _number(r.final_learning_rate, ".3g"),
        _number(r.final_dropout, ".2f"),
        f"{r.wall_time_s:.0f}",
    ]
    return f"| {' | '.join(cells)} |\n"


def report(results: Sequence[RunResult], args: argparse.Namespace) -> str:
    lines = [
        "# Elastic training vs a fixed schedule with the same budget",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- command: `{command_line()}`",
        f"- seeds: {' '.join(map(str, args.seeds))}",
    ]
    if "finance_risk" in args.datasets:
        extra = " ".join(f"--set {s}" for s in args.finance_extra_set)
        lines += [
            "- finance_risk: one `python -m aet.pipelines.cli run finance_risk"
            " --set training.seed=N` per run (domains/finance_risk/config.yaml), plus"
            f" elastic: `{' '.join(f'--set {s}' for s in FINANCE_ELASTIC_SET)}`;"
            f" fixed: `{' '.join(f'--set {s}' for s in FINANCE_FIXED_SET)}`"
            + (f"; both: `{extra}`" if extra else "")
            + f". Target {FINANCE_METRIC} >= {args.finance_target}. Validation: the Trainer's"
            " whole eval split (~150 rows) each epoch; test: the Evaluator's overall slice of"
            " the test split."
            " Wall time: the whole pipeline subprocess.",
        ]
    if "pneumoniamnist" in args.datasets:
        lines += [
            f"- pneumoniamnist: attention CNN `{PNEUMONIA_MODEL.json(exclude={'augmentation'})}`"
            f" without augmentation, `{PNEUMONIA}`, {args.pneumonia_epochs} epochs"
            f" of {STEPS_PER_EPOCH} steps, balanced class weights; official val split (524)"
            f" for validation, test split (624) for test. Target {PNEUMONIA_METRIC} >="
            f" {args.pneumonia_target}. elastic: `{PNEUMONIA_ELASTIC.json(include=ADAPTATIONS)}`"
            " (no early stopping, no attention monitor); fixed: the base rate and dropout"
            " throughout. Wall time: model build, fit and test evaluation.",
        ]
    lines += [
        "",
        "Epochs are 1-based. Mean ± sample std over seeds; 'epochs to target' averages the"
        " seeds that reached it. Adaptations: learning-rate and regularisation events"
        " (the end of warm-up counts as one).",
        "",
        SUMMARY_HEADER + summary_rows(results),
        "## Per-seed runs",
        "",
        RAW_HEADER + "".join(raw_row(r) for r in results),
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--finance-target", type=float, default=FINANCE_TARGET)
    parser.add_argument(
        "--finance-extra-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an extra --set for both finance_risk schedules, e.g. training.train_steps=22",
    )
    parser.add_argument("--pneumonia-npz", type=Path, default=PNEUMONIA_NPZ)
    parser.add_argument("--pneumonia-epochs", type=int, default=PNEUMONIA_EPOCHS)
    parser.add_argument("--pneumonia-target", type=float, default=PNEUMONIA_TARGET)
    parser.add_argument("--output-md", type=Path, default=RESULTS)
    parser.add_argument(
        "--work-dir", type=Path, help="keep the runs' folders here (default: a temp dir, removed)"
    )
    args = parser.parse_args(argv)
    if "pneumoniamnist" in args.datasets and not args.pneumonia_npz.is_file():
        parser.error(f"--pneumonia-npz: no such file {args.pneumonia_npz}")
    if args.pneumonia_epochs < 1:
        parser.error("--pneumonia-epochs must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="elastic_vs_fixed-"))
    pneumonia = load_pneumonia(args.pneumonia_npz) if "pneumoniamnist" in args.datasets else {}
    plan = [(d, seed, s) for d in args.datasets for seed in args.seeds for s in SCHEDULES]
    print(f"{len(plan)} runs; their folders: {work_dir}", flush=True)
    results: list[RunResult] = []
    started = time.monotonic()
    for index, (dataset, seed, schedule) in enumerate(plan, 1):
        print(f"[{index}/{len(plan)}] {dataset} {schedule} seed {seed} ...", flush=True)
        if dataset == "finance_risk":
            result = run_finance(
                schedule, seed, work_dir, args.finance_extra_set, args.finance_target
            )
        else:
            result = run_pneumonia(
                schedule, seed, pneumonia, args.pneumonia_epochs, work_dir, args.pneumonia_target
            )
        results.append(result)
        print(
            f"[{index}/{len(plan)}] {dataset} {schedule} seed {seed}: {result.wall_time_s:.0f} s"
            f" (total {time.monotonic() - started:.0f} s); best val {result.best:.4f} at epoch"
            f" {result.best_epoch}/{result.epochs}, test AUC {_number(result.test_auc)}",
            flush=True,
        )
    table = report(results, args)
    args.output_md.parent.mkdir(parents=True, exist_ok=True)
    args.output_md.write_text(table)
    print(f"\n{table}\nwritten to {args.output_md}")
    if args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
