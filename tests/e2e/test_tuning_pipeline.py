"""finance_risk tuned end to end: `aet run --tune` searches within its trial and
wall-clock budget, the Trainer trains with the best trial's hyperparameters, and a
later untuned run that reuses them takes the same ones without searching again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_TRAINING, CliRun, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e

WALL_CLOCK_S = 120
SMALL_SEARCH = [
    "--set", "tuning.max_trials=2",
    "--set", "tuning.epochs_per_trial=2",
    "--set", f"tuning.max_wall_clock_s={WALL_CLOCK_S}",
]  # fmt: skip


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory) -> CliRun:
    output = tmp_path_factory.mktemp("tuned")
    run = run_aet("run", "finance_risk", "--tune", *SMALL_TRAINING, *SMALL_SEARCH, output=output)
    assert_succeeded(run)
    return run


def _hyperparameters(trial: dict) -> dict:
    return {name: value for name, value in trial.items() if name not in ("trial_id", "score")}


def test_the_trainer_uses_the_best_trials_hyperparameters(tuned_run: CliRun) -> None:
    summary = tuned_run.summary
    tuning = summary["tuning"]
    assert (tuning["strategy"], tuning["objective"]) == ("bayesian", "val_loss")
    assert 1 <= len(tuning["trials"]) <= 2
    best = min(tuning["trials"], key=lambda trial: trial["score"])  # val_loss: lower wins
    assert summary["training"]["hyperparameters"] == _hyperparameters(best)
    assert set(best) >= {"embedding_dim", "num_heads", "learning_rate", "batch_size"}
    assert summary["blessed"] is True and summary["pushed_model_dir"]


def test_the_search_stays_within_its_wall_clock_and_off_the_terminal(tuned_run: CliRun) -> None:
    took = float(re.search(r"Tuner\s+done in\s+([\d.]+) s", tuned_run.stdout).group(1))
    assert took <= WALL_CLOCK_S
    assert "tuning (bayesian, val_loss):" in tuned_run.stdout
    assert "trained with:" in tuned_run.stdout
    assert "Search space summary" not in tuned_run.stdout  # keras-tuner's tables: the log


def test_an_untuned_run_can_reuse_the_last_tuned_hyperparameters(
    tuned_run: CliRun, tmp_path: Path
) -> None:
    again = run_aet(
        "run",
        "finance_risk",
        *SMALL_TRAINING,
        "--set",
        "tuning.reuse_last=true",
        output=tuned_run.output,
    )
    assert_succeeded(again)
    assert "Tuner" not in again.summary["components"]
    assert "tuning" not in again.summary
    assert (
        again.summary["training"]["hyperparameters"]
        == (tuned_run.summary["training"]["hyperparameters"])
    )
    assert "hyperparameters (last tuned):" in again.stdout
