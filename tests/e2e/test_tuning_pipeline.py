"""Tuned runs end to end: `aet run finance_risk --tune` searches within its trial and
wall-clock budget starting from the config's own values, the Trainer trains with the
best trial's hyperparameters, and a later untuned run that reuses them takes the same
ones without searching again; that run's model fails the serving check and is not
pushed over the served one. (medical_imaging and recommendation tune in their own e2e
runs.)"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    SMALL_SEARCH,
    SMALL_TRAINING,
    CliRun,
    assert_succeeded,
    assert_tuned_within_budget,
    run_aet,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory) -> CliRun:
    output = tmp_path_factory.mktemp("tuned")
    run = run_aet("run", "finance_risk", "--tune", *SMALL_TRAINING, *SMALL_SEARCH, output=output)
    assert_succeeded(run)
    return run


def test_the_trainer_uses_the_best_trials_hyperparameters(tuned_run: CliRun) -> None:
    tuning = assert_tuned_within_budget(tuned_run, "bayesian", "val_auc")
    assert 1 <= len(tuning["trials"]) <= 2
    assert set(tuning["config_values"]) >= {"embedding_dim", "num_heads", "learning_rate"}


def test_the_search_stays_off_the_terminal(tuned_run: CliRun) -> None:
    assert "tuning (bayesian, val_auc):" in tuned_run.stdout
    assert "trained with:" in tuned_run.stdout
    assert "Search space summary" not in tuned_run.stdout  # keras-tuner's tables: the log


@pytest.fixture(scope="module")
def reused_run(tuned_run: CliRun) -> tuple[CliRun, dict]:
    """A second, untuned run in the tuned run's folder that reuses the tuned values, with
    a latency budget no model meets: (the run, what the first run left served)."""
    served = {
        "hyperparameters": tuned_run.summary["training"]["hyperparameters"],
        "versions": tuned_run.pushed_versions("finance_risk"),
        "models.config": (tuned_run.output / "serving" / "models.config").read_text(),
    }
    again = run_aet(
        "run",
        "finance_risk",
        *SMALL_TRAINING,
        "--set",
        "tuning.reuse_last=true",
        "--set",
        "serving.check.latency_budget_ms=0.000001",
        output=tuned_run.output,
    )
    assert_succeeded(again)  # the run worked; its model is not fit to serve
    return again, served


def test_an_untuned_run_can_reuse_the_last_tuned_hyperparameters(reused_run) -> None:
    again, served = reused_run
    assert "Tuner" not in again.summary["components"]
    assert "tuning" not in again.summary
    assert again.summary["training"]["hyperparameters"] == served["hyperparameters"]
    assert "hyperparameters (last tuned):" in again.stdout


def test_a_model_that_fails_the_serving_check_is_not_pushed_over_the_served_one(
    reused_run, tuned_run: CliRun
) -> None:
    again, served = reused_run
    check = again.summary["serving_check"]
    assert not check["passed"] and not check["staged"]
    assert "serving.check.latency_budget_ms" in check["problems"][0]
    assert again.summary["pushed_model_dir"] is None
    assert "serving check: failed" in again.stdout and "over the budget" in again.stdout
    assert tuned_run.pushed_versions("finance_risk") == served["versions"]
    assert (tuned_run.output / "serving" / "models.config").read_text() == served["models.config"]
