"""The run summary's `training` section, read from the Trainer's history.json."""

from __future__ import annotations

from aet.pipelines.summary import training_section

EVENT = {
    "epoch": 9,
    "step": 110,
    "callback": "ElasticLearningRate",
    "what": "learning_rate",
    "from": 0.001,
    "to": 0.0005,
    "why": "val_loss did not improve for 8 epochs (best 0.512 at epoch 1)",
}


def test_training_section_keeps_the_last_epoch_and_every_event():
    history = {
        "epochs_run": 2,
        "class_weights": {"0": 0.7, "1": 1.6},
        "history": {"loss": [0.9, 0.51234567], "learning_rate": [0.001, 0.0005]},
        "events": [EVENT],
        "resumed_from": "resume/abc/epoch-000001",
        "hyperparameters": {"embedding_dim": 32},
        "steps_per_epoch": 11,
        "fit_seconds": 3.25,
    }
    assert training_section(history, "run/history.json") == {
        "epochs_run": 2,
        "steps_per_epoch": 11,
        "fit_seconds": 3.25,
        "class_weights": {"0": 0.7, "1": 1.6},
        "final": {"loss": 0.512346, "learning_rate": 0.0005},
        "events": [EVENT],
        "resumed_from": "resume/abc/epoch-000001",
        "hyperparameters": {"embedding_dim": 32},
        "history_file": "run/history.json",
    }


def test_a_history_without_events_or_a_resume_says_so():
    history = {"epochs_run": 1, "class_weights": None, "history": {"loss": [0.9]}}
    section = training_section(history, "run/history.json")
    assert section["events"] == []
    assert section["resumed_from"] is None
    assert section["hyperparameters"] == {}  # trained with the config's own values
