"""A fourth data kind registered from a test module (tests/e2e/jsonl_kind.py) without
editing a product file: `aet run` ingests, validates, transforms, trains, evaluates and
pushes with it, and `aet predict` sends the pushed model a request the kind builds."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aet.pipelines.cli import EXIT_OK, main
from tests.e2e.jsonl_kind import split_of
from tests.penguins_domain import penguins_config
from tests.serving.stand_in_server import StandInServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 4
BATCH_SIZE = 16
# `aet run` with the kind registered first, as a package that ships one would do it.
RUN_WITH_KIND = (
    "import sys, tests.e2e.jsonl_kind\n"
    "from aet.pipelines.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.fixture(scope="module")
def penguins_jsonl(tmp_path_factory, penguins_csv: Path) -> Path:
    import csv

    path = tmp_path_factory.mktemp("jsonl") / "penguins.jsonl"
    with open(penguins_csv, newline="") as rows, open(path, "w") as out:
        for row in csv.DictReader(rows):
            out.write(json.dumps({k: float(v) for k, v in row.items()}) + "\n")
    return path


@pytest.fixture(scope="module")
def jsonl_run(penguins_jsonl: Path, tmp_path_factory) -> tuple[dict, Path]:
    """The penguins domain read as JSON lines, trained as logistic regression for EPOCHS
    epochs with no step counts."""
    raw = penguins_config(penguins_jsonl)
    raw["data"]["format"] = "jsonl"
    raw["serving"]["model_name"] = "penguins-jsonl"
    raw["model"] = {"architecture": "logistic_regression"}
    raw["training"] = {
        "batch_size": BATCH_SIZE,
        "epochs": EPOCHS,
        "learning_rate": 0.05,
        "elastic": {"early_stopping": None},
    }
    raw["evaluation"]["confidence_intervals"] = "none"  # half a minute the test does not read
    folder = tmp_path_factory.mktemp("jsonl_domain")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    output = folder / "run"
    command = ["run", str(config_path), "--data", str(penguins_jsonl), "--output", str(output)]
    done = subprocess.run(
        [sys.executable, "-c", RUN_WITH_KIND, *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-3000:]}"
    return json.loads((output / "run_summary.json").read_text()), config_path


def test_a_plugin_kind_runs_the_whole_pipeline_and_serves(
    jsonl_run, penguins_jsonl: Path, capsys
) -> None:
    summary, config_path = jsonl_run
    assert summary["status"] == "succeeded" and summary["blessed"]
    assert summary["serving_check"]["passed"]
    ran = set(summary["components"])
    assert {"ImportExampleGen", "SchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= ran
    assert summary["metrics"]["overall"]["accuracy"] >= 0.6

    with StandInServer(summary["pushed_model_dir"], "penguins-jsonl") as server:
        command = ["predict", str(config_path), "--server", server.rest_url]
        code = main([*command, "--input", str(penguins_jsonl)])
    assert code == EXIT_OK
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == len(penguins_jsonl.read_text().splitlines())
    assert all(math.isclose(sum(a["probabilities"]), 1.0, abs_tol=1e-4) for a in answers)


def test_epochs_without_step_counts_train_that_many_passes_over_the_split(
    jsonl_run, penguins_jsonl: Path
) -> None:
    summary, config_path = jsonl_run
    shares = yaml.safe_load(config_path.read_text())["data"]["splits"]
    lines = range(1, len(penguins_jsonl.read_text().splitlines()) + 1)
    train_rows = sum(split_of(f"{penguins_jsonl}:{n}", shares) == "train" for n in lines)
    assert summary["training"]["epochs_run"] == EPOCHS
    assert summary["training"]["steps_per_epoch"] == math.ceil(train_rows / BATCH_SIZE)
