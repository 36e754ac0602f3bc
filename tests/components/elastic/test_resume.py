"""Fault-tolerant resume: a training run killed with SIGKILL part-way continues from its
last checkpoint with the learning rate, regularisation and callback counters the
uninterrupted run had at that point, and ends with the same number of steps; and the
checkpoint folder itself is written atomically, pruned, and read back with fallbacks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from aet.components.elastic import (
    ElasticLearningRate,
    EventLog,
    ResumableEarlyStopping,
    ResumeCheckpoint,
)
from aet.components.elastic.checkpoint import CHECKSUM, STATE_FILE
from aet.components.optimizers import layerwise_optimizer
from tests.subprocesses import finish, start_python

WORKER = Path(__file__).with_name("resume_training.py")
EPOCHS, STEPS_PER_EPOCH = 9, 4
KILLED_IN_EPOCH = 7  # epochs 0-6 done and checkpointed, killed in the middle of epoch 7


def _train(run_dir: Path, *extra: str) -> subprocess.Popen:
    return start_python(WORKER, str(run_dir), *extra)


def read_trace(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    finish(_train(run_dir))
    return run_dir


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("killed")
    process = _train(run_dir, "--hang-at", f"{KILLED_IN_EPOCH}:2")
    deadline = time.monotonic() + 300
    while not (run_dir / "hanging").exists():
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "result.json").exists()
    finish(_train(run_dir))
    return run_dir


def test_the_killed_run_resumes_from_its_last_checkpoint_not_from_scratch(killed_and_resumed):
    trace = read_trace(killed_and_resumed)
    restored = [line for line in trace if line["kind"] == "restored"]
    assert len(restored) == 1
    assert restored[0]["step"] == KILLED_IN_EPOCH * STEPS_PER_EPOCH
    after = trace[trace.index(restored[0]) + 1 :]
    assert [line["epoch"] for line in after] == list(range(KILLED_IN_EPOCH, EPOCHS))
    result = json.loads((killed_and_resumed / "result.json").read_text())
    assert result["resumed_from"].endswith(f"epoch-{KILLED_IN_EPOCH:06d}")


def test_resumed_state_is_what_the_uninterrupted_run_had_at_that_point(
    uninterrupted, killed_and_resumed
):
    reference = {line["epoch"]: line for line in read_trace(uninterrupted)}
    restored = next(line for line in read_trace(killed_and_resumed) if line["kind"] == "restored")
    expected = reference[KILLED_IN_EPOCH - 1]
    # Rate, dropout, weight decay, step and every callback's counters, exactly.
    assert {k: v for k, v in restored.items() if k != "kind"} == {
        k: v for k, v in expected.items() if k != "kind"
    }
    # The run adapted before the kill: the state restored is not the initial one.
    assert expected["dropout"] > 0.1 and expected["weight_decay"] > 0.01
    assert expected["learning_rate"] < 0.05


def test_resumed_run_ends_with_the_same_steps_history_and_earlier_events(
    uninterrupted, killed_and_resumed
):
    reference = json.loads((uninterrupted / "result.json").read_text())
    resumed = json.loads((killed_and_resumed / "result.json").read_text())
    assert resumed["step"] == reference["step"] == EPOCHS * STEPS_PER_EPOCH
    assert len(resumed["history"]["loss"]) == len(reference["history"]["loss"]) == EPOCHS
    before = [e for e in reference["events"] if e["epoch"] < KILLED_IN_EPOCH]
    assert resumed["events"][: len(before)] == before
    warmups = [e for e in resumed["events"] if "warm-up" in e["why"]]
    assert len(warmups) == 1  # the resumed run did not warm up again
    # The per-epoch CSV log in the same folder has every epoch once.
    rows = (killed_and_resumed / "training_log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows if not row.startswith("epoch")] == [
        str(epoch) for epoch in range(EPOCHS)
    ]


# --- the checkpoint folder ------------------------------------------------------------


def _model() -> tf.keras.Model:
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss="mse")
    return model


def _fit(model, callbacks, epochs, initial_epoch=0):
    x = np.arange(16, dtype="float32").reshape(8, 2) / 16
    y = x.sum(axis=1, keepdims=True)
    model.fit(
        x,
        y,
        epochs=epochs,
        initial_epoch=initial_epoch,
        batch_size=4,
        callbacks=callbacks,
        verbose=0,
    )


def _checkpointed(directory, keep=2, every_epochs=1):
    events = EventLog()
    rate = ElasticLearningRate(
        "loss", "min", 0.01, patience=1, restore_best_on_cut=True, events=events
    )
    checkpoint = ResumeCheckpoint(
        str(directory), {"ElasticLearningRate": rate}, events, every_epochs=every_epochs, keep=keep
    )
    return rate, checkpoint


def test_only_the_newest_complete_checkpoints_are_kept(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path, keep=2)
    _fit(model, [rate, checkpoint], epochs=4)
    assert sorted(os.listdir(tmp_path)) == ["epoch-000003", "epoch-000004"]
    state = json.loads((tmp_path / "epoch-000004" / STATE_FILE).read_text())["state"]
    assert state["epochs_done"] == 4 and state["finished"] is True
    assert state["step"] == 8 and len(state["history"]["loss"]) == 4


def test_a_checkpoint_every_n_epochs_and_always_at_the_end(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path, keep=5, every_epochs=2)
    _fit(model, [rate, checkpoint], epochs=5)
    assert sorted(os.listdir(tmp_path)) == ["epoch-000002", "epoch-000004", "epoch-000005"]


def test_restore_brings_back_weights_optimizer_counters_and_best_weights(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path)
    _fit(model, [rate, checkpoint], epochs=3)

    fresh = _model()
    fresh_rate, fresh_checkpoint = _checkpointed(tmp_path)
    assert fresh_checkpoint.restore(fresh) == (3, True)
    for restored, original in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(restored, original)
    assert int(fresh.optimizer.iterations.numpy()) == 6
    for restored, original in zip(
        fresh.optimizer.variables, model.optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
    assert fresh_rate.get_state() == rate.get_state()
    for restored, original in zip(fresh_rate.best_weights, rate.best_weights, strict=True):
        np.testing.assert_array_equal(restored, original)
    assert fresh_checkpoint.history == checkpoint.history


def test_an_incomplete_newest_folder_is_ignored(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path, keep=3)
    _fit(model, [rate, checkpoint], epochs=2)
    # A kill while the variables of epoch 3 were written: no state.json yet.
    (tmp_path / "epoch-000003").mkdir()
    (tmp_path / "epoch-000003" / "variables.index").write_bytes(b"partial")
    _, fresh_checkpoint = _checkpointed(tmp_path)
    assert fresh_checkpoint.restore(_model()) == (2, True)
    assert fresh_checkpoint.restored_from.endswith("epoch-000002")


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path, keep=2)
    _fit(model, [rate, checkpoint], epochs=3)
    (tmp_path / "epoch-000003" / "variables.index").write_bytes(b"corrupt")
    _, fresh_checkpoint = _checkpointed(tmp_path)
    assert fresh_checkpoint.restore(_model()) == (2, False)
    assert "epoch-000003 is unreadable" in caplog.text


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bits(path: Path) -> None:
    """Flips one bit in the middle of the file: a byte still there, now different."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


# The files of one checkpoint a fault may hit: the counters, the variables' data and
# index, the callbacks' arrays (ElasticLearningRate's best weights).
TARGETS = {
    "state.json": STATE_FILE,
    "variables data": "variables.data-00000-of-00001",
    "variables index": "variables.index",
    "arrays": "arrays-ElasticLearningRate.npz",
}


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory) -> tuple[Path, dict]:
    """Checkpoints after epochs 2 and 3 of one run, and what restoring each gives."""
    folder = tmp_path_factory.mktemp("checkpoints")
    model = _model()
    rate, checkpoint = _checkpointed(folder, keep=2)
    _fit(model, [rate, checkpoint], epochs=3)
    restored = {}
    for epoch in (2, 3):
        only = tmp_path_factory.mktemp(f"only-{epoch}")
        shutil.copytree(folder / f"epoch-00000{epoch}", only / f"epoch-00000{epoch}")
        fresh = _model()
        fresh_rate, fresh_checkpoint = _checkpointed(only)
        fresh_checkpoint.restore(fresh)
        restored[epoch] = (fresh.get_weights(), fresh_rate.get_state())
    return folder, restored


@pytest.mark.parametrize("fault", [_truncate, _flip_bits], ids=["truncated", "bit-flipped"])
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("scope", ["newest", "all"])
def test_a_damaged_checkpoint_falls_back_whole_or_starts_clean(
    three_checkpoints, tmp_path, caplog, fault, target, scope
):
    original, restored = three_checkpoints
    folder = tmp_path / "checkpoints"
    shutil.copytree(original, folder)
    damaged = ["epoch-000003"] if scope == "newest" else ["epoch-000002", "epoch-000003"]
    for name in damaged:
        fault(folder / name / TARGETS[target])

    model = _model()
    fresh_weights = model.get_weights()
    rate, checkpoint = _checkpointed(folder)
    fresh_state = rate.get_state()
    done, finished = checkpoint.restore(model)

    assert all(f"{name} is unreadable" in caplog.text for name in damaged)
    if scope == "newest":  # exactly what epoch 2's checkpoint holds, nothing of epoch 3's
        assert (done, finished) == (2, False)
        weights, state = restored[2]
        assert rate.get_state() == state
    else:  # nothing of either: the fresh weights, counters and optimizer
        assert (done, finished) == (0, False) and checkpoint.restored_from is None
        weights, state = fresh_weights, fresh_state
        assert rate.get_state() == state and rate.best_weights is None
        assert int(model.optimizer.iterations.numpy()) == 0
        assert checkpoint.events.events == [] and checkpoint.history == {}
    for now, expected in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(now, expected)


def _drop_a_counter(path: Path) -> None:
    """A state that passes its checksum but lacks one of a callback's counters: found
    only once the variables are already read into the model."""
    stored = json.loads(path.read_text())
    stored["state"]["callbacks"]["ElasticLearningRate"].pop("wait")
    content = json.dumps(stored["state"], sort_keys=True)
    stored[CHECKSUM] = hashlib.sha256(content.encode()).hexdigest()
    path.write_text(json.dumps(stored))


def test_what_a_failed_load_applied_is_undone(three_checkpoints, tmp_path, caplog):
    original, _ = three_checkpoints
    folder = tmp_path / "checkpoints"
    shutil.copytree(original, folder)
    for name in ("epoch-000002", "epoch-000003"):
        _drop_a_counter(folder / name / STATE_FILE)
    model = _model()
    fresh_weights = model.get_weights()
    _, checkpoint = _checkpointed(folder)
    assert checkpoint.restore(model) == (0, False)
    assert "lacks ['wait']" in caplog.text
    for now, fresh in zip(model.get_weights(), fresh_weights, strict=True):
        np.testing.assert_array_equal(now, fresh)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_nothing_to_resume_starts_from_scratch(tmp_path):
    _, checkpoint = _checkpointed(tmp_path / "none")
    assert checkpoint.restore(_model()) == (0, False)
    assert checkpoint.restored_from is None


def test_a_checkpoint_of_other_callbacks_is_not_restored(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path)
    _fit(model, [rate, checkpoint], epochs=1)
    events = EventLog()
    other = ResumeCheckpoint(
        str(tmp_path), {"ResumableEarlyStopping": ResumableEarlyStopping()}, events
    )
    assert other.restore(_model()) == (0, False)


def test_resumed_early_stopping_keeps_its_patience_count(tmp_path):
    stopping = ResumableEarlyStopping(monitor="loss", patience=3)
    stopping.set_state({"wait": 2, "best": 0.5, "best_epoch": 4, "stopped_epoch": 0, "stage": 1})
    stopping.set_model(_model())
    stopping.on_train_begin()
    assert (stopping.wait, stopping.best, stopping.best_epoch) == (2, 0.5, 4)
    fresh = ResumableEarlyStopping(monitor="loss", patience=3)
    fresh.set_model(_model())
    fresh.on_train_begin()
    assert fresh.wait == 0 and fresh.best == np.inf


def test_discard_removes_every_checkpoint(tmp_path):
    model = _model()
    rate, checkpoint = _checkpointed(tmp_path / "ckpt")
    _fit(model, [rate, checkpoint], epochs=2)
    checkpoint.discard()
    assert not (tmp_path / "ckpt").exists()


def _layerwise_model() -> tf.keras.Model:
    """A model trained by tensorflow-addons' MultiOptimizer, as progressive unfreezing
    trains one (its `variables` is a method, not a list)."""
    first, head = tf.keras.layers.Dense(2), tf.keras.layers.Dense(1)
    model = tf.keras.Sequential([tf.keras.Input((2,)), first, head])
    model.compile(optimizer=layerwise_optimizer([[head], [first]], 0.01, 0.0, 0.5), loss="mse")
    return model


@pytest.mark.parametrize("damaged", [False, True], ids=["readable", "all damaged"])
def test_a_layerwise_optimizer_restores_or_starts_clean(tmp_path, damaged):
    model = _layerwise_model()
    rate, checkpoint = _checkpointed(tmp_path)
    _fit(model, [rate, checkpoint], epochs=2)
    if damaged:
        for folder in tmp_path.glob("epoch-*"):
            _truncate(folder / "variables.data-00000-of-00001")
    fresh = _layerwise_model()
    fresh_weights = fresh.get_weights()
    _, fresh_checkpoint = _checkpointed(tmp_path)
    expected = (0, False) if damaged else (2, True)
    assert fresh_checkpoint.restore(fresh) == expected
    for now, then in zip(
        fresh.get_weights(), fresh_weights if damaged else model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(now, then)
