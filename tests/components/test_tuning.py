"""`components.tuning`: the config's search space as keras-tuner's, and a real search
(tuner_fn as TFX's Tuner calls it) that tries the config's own values first and stays
within its trial and wall-clock budgets."""

from __future__ import annotations

import time

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.components.tuner.executor import write_best_hyperparameters
from tfx.types import standard_artifacts

from aet.components.features import from_custom_config, to_custom_config
from aet.components.trainer import tuned_values
from aet.components.tuning import holds, hyperparameters, make_oracle, tuner_fn
from aet.config import TuningConfig
from aet.pipelines.summary import read_tuning
from tests.components.trainer_worker import dataset_factory

SPACE = {
    "embedding_dim": {"choices": [8, 16]},
    "dropout": {"min": 0.0, "max": 0.3, "step": 0.1},
    "learning_rate": {"min": 0.0005, "max": 0.005, "log": True},
    "batch_size": {"choices": [8, 16]},
}


def _tuning(**fields) -> TuningConfig:
    return TuningConfig(enabled=True, search_space=SPACE, **fields)


def test_the_search_space_becomes_typed_hyperparameters() -> None:
    space = hyperparameters(_tuning())
    by_name = {hp.name: hp for hp in space.space}
    assert by_name["embedding_dim"].values == [8, 16]
    assert by_name["dropout"].step == pytest.approx(0.1)
    assert by_name["learning_rate"].sampling == "log"
    assert type(by_name["batch_size"].values[0]) is int


CONFIG_VALUES = {"embedding_dim": 16, "dropout": 0.1, "learning_rate": 0.001, "batch_size": 16}


@pytest.mark.parametrize(
    ("change", "held"),
    [
        ({}, True),
        ({"embedding_dim": 32}, False),  # not a choice
        ({"dropout": 0.15}, False),  # between steps
        ({"learning_rate": 0.01}, False),  # above the range
        ({"batch_size": None}, False),  # missing
    ],
)
def test_the_config_goes_first_only_where_the_space_holds_its_values(change, held) -> None:
    values = {**CONFIG_VALUES, **change}
    assert holds(hyperparameters(_tuning()), values) is held
    oracle = make_oracle(_tuning(), kt.Objective("val_loss", "min"), 0, float("inf"), values)
    assert (oracle.first == values) is held


def test_tuned_values_are_set_in_their_config_sections(transform_run) -> None:
    config = transform_run.config.with_hyperparameters({"embedding_dim": 8, "batch_size": 16})
    assert (config.model.embedding_dim, config.training.batch_size) == (8, 16)
    assert config.model.num_heads == transform_run.config.model.num_heads


def test_the_trainer_takes_the_tuned_values_without_hyperbands_bookkeeping() -> None:
    chosen = kt.HyperParameters()
    chosen.Fixed("embedding_dim", 16)
    chosen.Fixed("tuner/epochs", 3)
    chosen.Fixed("tuner/trial_id", "0004")
    handed_over = tfx.components.FnArgs(hyperparameters=chosen.get_config())
    assert tuned_values(handed_over) == {"embedding_dim": 16}
    assert tuned_values(tfx.components.FnArgs()) == {}


def _fn_args(transform_run, tuning: TuningConfig, working_dir: str) -> tfx.components.FnArgs:
    config = transform_run.config.with_hyperparameters(CONFIG_VALUES)
    config = config.copy(
        update={
            "tuning": tuning,
            "training": config.training.copy(update={"steps_per_epoch": 2, "eval_steps": 1}),
        }
    )
    return tfx.components.FnArgs(
        train_files=["train"],
        eval_files=["eval"],
        transform_graph_path=transform_run.transform_output_dir,
        working_dir=working_dir,
        train_steps=4,
        eval_steps=1,
        custom_config=to_custom_config(config),
        data_accessor=tfx.components.DataAccessor(
            tf_dataset_factory=dataset_factory(transform_run.train_transformed),
            record_batch_factory=None,
            data_view_decode_fn=None,
        ),
    )


@pytest.mark.parametrize("strategy", ["random", "bayesian", "hyperband"])
def test_a_search_starts_from_the_config_and_finds_a_best_trial(transform_run, tmp_path, strategy):
    tuning = _tuning(strategy=strategy, max_trials=3, epochs_per_trial=3)
    result = tuner_fn(_fn_args(transform_run, tuning, str(tmp_path)))
    result.tuner.search(**result.fit_kwargs)
    trials = result.tuner.oracle.get_best_trials(10)
    assert 1 <= len(trials) <= (3 if strategy != "hyperband" else 10)
    if strategy == "hyperband":  # a trial of round 1 continued round 0's weights
        promoted = [t for t in trials if "tuner/trial_id" in t.hyperparameters.values]
        assert promoted and all(t.status == "COMPLETED" for t in promoted)
    # What TFX's Tuner writes once the search ends, as the run summary reads it.
    outputs = {
        "best_hyperparameters": [standard_artifacts.HyperParameters()],
        "tuner_results": [standard_artifacts.TunerResults()],
    }
    for name, (artifact,) in outputs.items():
        artifact.uri = str(tmp_path / name)
    write_best_hyperparameters(result.tuner, outputs)
    config = from_custom_config(result.tuner.hypermodel.fn_args.custom_config)
    summary = read_tuning(config, outputs["tuner_results"][0].uri)
    assert len(summary["trials"]) == len(result.tuner.oracle.trials)
    assert summary["config_values"] == CONFIG_VALUES
    assert all(set(trial["hyperparameters"]) == set(SPACE) for trial in summary["trials"])
    curves = result.tuner.hypermodel.finished_curves  # what the median rule compares with
    assert len(curves) == len(result.tuner.oracle.trials) and all(curves)
    first = min(result.tuner.oracle.trials.values(), key=lambda trial: trial.trial_id)
    assert {name: first.hyperparameters.get(name) for name in SPACE} == CONFIG_VALUES
    assert len({str(trial.hyperparameters.values) for trial in trials}) == len(trials)
    best = result.tuner.get_best_hyperparameters()[0].values
    assert set(best) >= set(SPACE)
    assert best["embedding_dim"] in (8, 16) and 0.0005 <= best["learning_rate"] <= 0.005


def test_the_wall_clock_stops_the_search_after_the_first_trial(transform_run, tmp_path):
    tuning = _tuning(max_trials=50, epochs_per_trial=2, max_wall_clock_s=0.001)
    result = tuner_fn(_fn_args(transform_run, tuning, str(tmp_path)))
    started = time.monotonic()
    result.tuner.search(**result.fit_kwargs)
    assert len(result.tuner.oracle.trials) == 1
    assert time.monotonic() - started < 60


def test_every_trial_starts_from_the_configs_seed(transform_run, tmp_path):
    """Trials differ by their values alone: two builds of the same values start from the
    same weights, whatever was drawn in between, so one seed always picks one winner."""
    hypermodel = tuner_fn(_fn_args(transform_run, _tuning(), str(tmp_path))).tuner.hypermodel
    values = kt.HyperParameters()
    for name, value in CONFIG_VALUES.items():
        values.Fixed(name, value)
    first = hypermodel.build(values).get_weights()
    tf.random.uniform([100])
    second = hypermodel.build(values).get_weights()
    assert len(first) == len(second) > 0
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
