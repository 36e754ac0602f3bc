"""Tuned runs end to end: `aet run DOMAIN --tune` searches within its trial and
wall-clock budget starting from the config's own values, the Trainer trains with the
best trial's hyperparameters, and (finance_risk) a later untuned run that reuses them
takes the same ones without searching again."""

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


# The other domains' smallest runs (their e2e tests' settings); Hyperband gets 3 epochs
# so that a second round continues the first round's best weights.
OTHER_DOMAINS = {
    "medical_imaging": ["--set", "tuning.epochs_per_trial=2"],
    "recommendation": [
        "--set", "training.train_steps=16",
        "--set", "training.steps_per_epoch=2",
        "--set", "training.eval_steps=2",
        "--set", "evaluation.thresholds={ndcg: {lower: 0.0}}",
        "--set", "tuning.epochs_per_trial=3",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory) -> CliRun:
    output = tmp_path_factory.mktemp("tuned")
    run = run_aet("run", "finance_risk", "--tune", *SMALL_TRAINING, *SMALL_SEARCH, output=output)
    assert_succeeded(run)
    return run


def assert_tuned_within_budget(run: CliRun, strategy: str, objective: str) -> dict:
    """The search ran within its wall clock, started from the config's values, and the
    Trainer trained with the best trial's; returns the summary's tuning section."""
    summary = run.summary
    tuning = summary["tuning"]
    assert (tuning["strategy"], tuning["objective"]) == (strategy, objective)
    took = float(re.search(r"Tuner\s+done in\s+([\d.]+) s", run.stdout).group(1))
    assert took <= WALL_CLOCK_S
    trials = tuning["trials"]
    first = min(trials, key=lambda trial: trial["trial_id"])
    assert first["hyperparameters"] == tuning["config_values"]
    best = (min if tuning["direction"] == "min" else max)(trials, key=lambda t: t["score"])
    assert summary["training"]["hyperparameters"] == best["hyperparameters"]
    assert "(the config's)" in run.stdout and "trained with:" in run.stdout
    return tuning


def test_the_trainer_uses_the_best_trials_hyperparameters(tuned_run: CliRun) -> None:
    tuning = assert_tuned_within_budget(tuned_run, "bayesian", "val_auc")
    assert 1 <= len(tuning["trials"]) <= 2
    assert set(tuning["config_values"]) >= {"embedding_dim", "num_heads", "learning_rate"}


def test_the_search_stays_off_the_terminal(tuned_run: CliRun) -> None:
    assert "tuning (bayesian, val_auc):" in tuned_run.stdout
    assert "trained with:" in tuned_run.stdout
    assert "Search space summary" not in tuned_run.stdout  # keras-tuner's tables: the log


def test_an_untuned_run_can_reuse_the_last_tuned_hyperparameters(
    tuned_run: CliRun, tmp_path: Path
) -> None:
    tuned = tuned_run.summary["training"]["hyperparameters"]  # before the next run's summary
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
    assert again.summary["training"]["hyperparameters"] == tuned
    assert "hyperparameters (last tuned):" in again.stdout


@pytest.mark.parametrize(
    ("domain", "strategy", "objective"),
    [("medical_imaging", "random", "val_auc"), ("recommendation", "hyperband", "val_ndcg")],
)
def test_every_domain_tunes_within_its_wall_clock(
    domain: str, strategy: str, objective: str, tmp_path: Path
) -> None:
    run = run_aet("run", domain, "--tune", *SMALL_SEARCH, *OTHER_DOMAINS[domain], output=tmp_path)
    assert_succeeded(run)
    tuning = assert_tuned_within_budget(run, strategy, objective)
    assert len(tuning["trials"]) >= 2
