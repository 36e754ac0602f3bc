"""Pipeline model vs a logistic-regression baseline on the *same* finance_risk test split.

Reads a finished `aet run finance_risk` folder: the test-split AUC the Evaluator
measured (run_summary.json) and the train/test examples ExampleGen wrote. It fits
scikit-learn's LogisticRegression on one-hot categoricals and standardised numerics
of the train split (the baseline DESIGN.md cites, 5-fold CV AUC 0.784 on all rows),
scores the test split, and appends a row to benchmarks/results/finance_risk_baseline.md.

    .venv/bin/python -m benchmarks.finance_risk_baseline runs/finance_risk
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from aet.pipelines.domains import load_domain

RESULTS = Path(__file__).parent / "results" / "finance_risk_baseline.md"
HEADER = (
    "| date | machine | rows train/test | pipeline model AUC (TFMA) | logistic regression AUC |"
    " epochs trained | pipeline wall time |\n|---|---|---|---|---|---|---|\n"
)


def read_split(examples_dir: str, split: str) -> list[dict[str, object]]:
    files = tf.io.gfile.glob(f"{examples_dir}/Split-{split}/*")
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            row[name] = values[0] if values else None
        rows.append(row)
    return rows


def logistic_regression_auc(train: list[dict], test: list[dict], config) -> float:
    features = config.features
    positive = features.label.classes[1].encode()

    def matrix(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array(
            [
                [row[n] for n in features.numeric] + [row[n] for n in features.categorical]
                for row in rows
            ],
            dtype=object,
        )
        y = np.array([row[features.label.name] == positive for row in rows], dtype=int)
        return x, y

    numeric = list(range(len(features.numeric)))
    categorical = list(range(len(features.numeric), len(features.input_names)))
    model = make_pipeline(
        ColumnTransformer(
            [
                ("numeric", StandardScaler(), numeric),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    x_train, y_train = matrix(train)
    x_test, y_test = matrix(test)
    model.fit(x_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="output folder of `aet run finance_risk`")
    args = parser.parse_args()
    summary = json.loads((args.run_dir / "run_summary.json").read_text())
    config = load_domain(summary["domain"])
    train = read_split(summary["examples_dir"], "train")
    test = read_split(summary["examples_dir"], "test")
    baseline = logistic_regression_auc(train, test, config)
    model_auc = summary["metrics"]["overall"]["auc"]
    row = (
        f"| {time.strftime('%Y-%m-%d')} | {platform.machine()}, {os.cpu_count()} cores |"
        f" {len(train)}/{len(test)} | {model_auc:.4f} | {baseline:.4f} |"
        f" {summary.get('training', {}).get('epochs_run', '?')} | {summary['wall_time_s']} s |\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as handle:
        handle.write(row)
    print(HEADER + row, end="")


if __name__ == "__main__":
    main()
