"""The shared `EventLog` and the callbacks `build_callbacks` makes from the config."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from aet.components.elastic import (
    AttentionMonitor,
    ElasticLearningRate,
    ElasticRegularisation,
    EventLog,
    build_callbacks,
)
from aet.config import ElasticConfig


def test_events_are_json_ready_dicts_in_order():
    log = EventLog()
    log.record(
        epoch=np.int64(2),
        step=22,
        callback="ElasticLearningRate",
        what="learning_rate",
        from_value=np.float32(0.5),
        to_value=0.25,
        why="plateau",
    )
    log.record(epoch=3, step=33, callback="X", what="weights", from_value=3, to_value=1, why="-")
    assert json.loads(json.dumps(log.events)) == [
        {
            "epoch": 2,
            "step": 22,
            "callback": "ElasticLearningRate",
            "what": "learning_rate",
            "from": 0.5,
            "to": 0.25,
            "why": "plateau",
        },
        {
            "epoch": 3,
            "step": 33,
            "callback": "X",
            "what": "weights",
            "from": 3,
            "to": 1,
            "why": "-",
        },
    ]


def test_the_learning_rate_callback_follows_the_config(tmp_path):
    config = ElasticConfig(
        monitor="val_auc",
        learning_rate={
            "warmup_steps": 22,
            "factor": 0.25,
            "patience": 8,
            "cooldown": 2,
            "min_learning_rate": 1e-6,
            "restore_best_on_cut": True,
        },
    )
    events = EventLog()
    callbacks = build_callbacks(config, str(tmp_path), 0.003, events)
    first = callbacks[0]  # before the loggers, so they see its `learning_rate`
    assert isinstance(first, ElasticLearningRate)
    assert (first.monitor, first.mode, first.base_rate, first.warmup_steps) == (
        "val_auc",
        "max",
        0.003,
        22,
    )
    assert (first.factor, first.patience, first.cooldown, first.min_rate) == (0.25, 8, 2, 1e-6)
    assert first.restore_best_on_cut
    assert first.events is events
    early = [c for c in callbacks if isinstance(c, tf.keras.callbacks.EarlyStopping)]
    assert len(early) == 1


def test_no_learning_rate_section_means_no_learning_rate_callback(tmp_path):
    config = ElasticConfig(monitor="val_loss", learning_rate=None, early_stopping=None)
    callbacks = build_callbacks(config, str(tmp_path), 0.001, EventLog())
    assert not any(isinstance(c, ElasticLearningRate) for c in callbacks)
    assert len(callbacks) == 2  # TensorBoard and the CSV log


def test_attention_monitor_runs_before_the_loggers_when_given_a_probe(tmp_path):
    config = ElasticConfig(
        monitor="val_loss", attention_monitor={"collapse_below": 0.1, "uniform_above": 0.9}
    )
    probe = {"x": tf.zeros([2, 1])}
    callbacks = build_callbacks(config, str(tmp_path), 0.001, EventLog(), probe)
    kinds = [type(c) for c in callbacks]
    monitor = callbacks[kinds.index(AttentionMonitor)]
    assert kinds.index(AttentionMonitor) < kinds.index(tf.keras.callbacks.CSVLogger)
    assert (monitor.collapse_below, monitor.uniform_above, monitor.probe) == (0.1, 0.9, probe)
    without_probe = build_callbacks(config, str(tmp_path), 0.001, EventLog())
    assert AttentionMonitor not in [type(c) for c in without_probe]


def test_regularisation_follows_the_config(tmp_path):
    config = ElasticConfig(
        monitor="val_loss",
        regularisation={"metric": "loss", "widen_above": 0.2, "patience": 3, "max_rate": 0.4},
    )
    callbacks = build_callbacks(config, str(tmp_path), 0.001, EventLog())
    [regularisation] = [c for c in callbacks if isinstance(c, ElasticRegularisation)]
    assert (regularisation.metric, regularisation.widen_above) == ("loss", 0.2)
    assert (regularisation.patience, regularisation.max_rate) == (3, 0.4)
    assert not any(
        isinstance(c, ElasticRegularisation)
        for c in build_callbacks(
            ElasticConfig(monitor="val_loss"), str(tmp_path), 0.001, EventLog()
        )
    )
