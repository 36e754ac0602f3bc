"""Fault-tolerant resume: periodic checkpoints of everything a training run needs to
continue exactly where it stopped after a crash, a kill or a preemption.

Keras' BackupAndRestore saves the model and optimizer but not the callbacks' own
state, so a resumed run would warm up again, forget its plateau counters and lose the
events already recorded. Each checkpoint here is one folder `epoch-NNNNNN/` holding:

- `variables.*`: a tf.train.Checkpoint of the model and optimizer (weights, dropout
  rates and weight decay in their variables, learning rate, slots, iteration count);
- `arrays-<callback>.npz`: arrays a callback remembers (best weights), when any;
- `state.json`, written last through a temporary file and a rename: the completed
  epochs, every resumable callback's counters, the metric history and the events, with
  their SHA-256 (TF checks the variables' own checksums; the zip, its CRCs).

A folder without `state.json` is incomplete and ignored, so a kill mid-write can never
be mistaken for a checkpoint; the previous `keep - 1` complete folders stay, so a
checkpoint that turns out unreadable falls back to the one before it (what it loaded
before failing is undone first), and a run with none readable starts clean.

Under a tf.distribute strategy every worker writes (saving may need all of them), the
chief into `directory`, the others into a scratch folder they delete again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from aet.components.elastic.events import EventLog
from aet.components.elastic.state import ResumableState
from aet.components.files import write_atomically
from aet.components.optimizers import build_optimizer, optimizer_parts, optimizer_variables

STATE_FILE = "state.json"
CHECKSUM = "sha256"  # of the state, as sorted-key JSON
_UNSET = object()  # a callback attribute not set yet when a restore begins
# What reading a damaged checkpoint raises: TF's errors (a bad bundle or checksum), a
# bad JSON or zip (ValueError, BadZipFile), a state missing keys, a truncated file.
UNREADABLE = (
    tf.errors.OpError,
    ValueError,
    KeyError,
    TypeError,
    OSError,
    EOFError,
    IndexError,  # TF's reader on a truncated variables file: "Read less bytes than requested"
    zipfile.BadZipFile,
)
VARIABLES_PREFIX = "variables"
_EPOCH_DIR = re.compile(r"^epoch-(\d{6})$")


def _epoch_dir(directory: str, epoch: int) -> str:
    return os.path.join(directory, f"epoch-{epoch:06d}")


def _plain(value: object) -> object:
    """numpy scalars in callback counters become Python numbers for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _is_chief() -> bool:
    return tf.distribute.get_strategy().extended.should_checkpoint


def _read_state(path: str) -> dict:
    """The state in `path`, once its checksum matches: a flipped bit in JSON may still
    parse, as a different number."""
    with tf.io.gfile.GFile(path) as source:
        stored = json.load(source)
    content = json.dumps(stored["state"], sort_keys=True)
    if hashlib.sha256(content.encode()).hexdigest() != stored[CHECKSUM]:
        raise ValueError(f"{path}: the state does not match its checksum")
    return stored["state"]


class ResumeCheckpoint(tf.keras.callbacks.Callback):
    """Saves every `every_epochs` epochs and when training ends; `restore` loads the
    newest complete checkpoint before `fit` and says which epoch to start from.

    `resumables` names the callbacks whose state travels with the checkpoint; the
    names are the keys in `state.json`. Put this callback last, so the epoch logs it
    keeps as history hold what the other callbacks added.
    """

    def __init__(
        self,
        directory: str,
        resumables: Mapping[str, ResumableState],
        events: EventLog,
        every_epochs: int = 1,
        keep: int = 2,
    ) -> None:
        super().__init__()
        if every_epochs < 1 or keep < 1:
            raise ValueError("every_epochs and keep must be at least 1")
        self.directory = directory
        self.resumables = dict(resumables)
        self.events = events
        self.every_epochs = every_epochs
        self.keep = keep
        self.history: dict[str, list[float]] = {}
        self.epochs_done = 0
        self.restored_from: str | None = None

    # --- restore ------------------------------------------------------------------------

    def complete_checkpoints(self) -> list[str]:
        """Folders holding a complete checkpoint, oldest first."""
        if not tf.io.gfile.isdir(self.directory):
            return []
        names = sorted(
            name.rstrip("/")
            for name in tf.io.gfile.listdir(self.directory)
            if _EPOCH_DIR.match(name.rstrip("/"))
        )
        folders = [os.path.join(self.directory, name) for name in names]
        return [f for f in folders if tf.io.gfile.exists(os.path.join(f, STATE_FILE))]

    def restore(self, model: tf.keras.Model) -> tuple[int, bool]:
        """Load the newest readable checkpoint into `model`, its optimizer, the
        resumable callbacks and the event log. Returns (epochs already done, whether
        training had finished); (0, False) when there is nothing to resume.

        A checkpoint that fails to load part-way (a truncated or bit-flipped file) is
        undone before the previous one is tried, so a run resumes from one whole
        checkpoint or, when none is readable, starts clean from its fresh weights."""
        self.set_model(model)
        build_optimizer(model)
        fresh = self._snapshot()
        for folder in reversed(self.complete_checkpoints()):
            try:
                finished = self._load(folder)
            except UNREADABLE as error:
                logging.warning(
                    "checkpoint %s is unreadable (%s: %s); trying the previous",
                    folder,
                    type(error).__name__,
                    error,
                )
                self._roll_back(fresh)
                continue
            self.restored_from = folder
            logging.info("resumed from %s: %d epochs done", folder, self.epochs_done)
            return self.epochs_done, finished
        return 0, False

    def _snapshot(self) -> dict:
        """What `_load` changes, as it is before loading."""
        return {
            "weights": [variable.numpy() for variable in self.model.variables],
            "optimizer": [v.numpy() for v in optimizer_variables(self.model.optimizer)],
            # Attributes, not get_state(): a callback sets some only when training begins.
            "callbacks": {
                name: {
                    key: vars(callback).get(key, _UNSET)
                    for key in (*callback.STATE_KEYS, *callback.ARRAY_KEYS)
                }
                for name, callback in self.resumables.items()
            },
            "events": list(self.events.events),
            "history": self.history,
            "epochs_done": self.epochs_done,
        }

    def _roll_back(self, snapshot: dict) -> None:
        for variable, value in zip(self.model.variables, snapshot["weights"], strict=True):
            variable.assign(value)
        optimizer = optimizer_variables(self.model.optimizer)
        for variable, value in zip(optimizer, snapshot["optimizer"], strict=True):
            variable.assign(value)
        for name, attributes in snapshot["callbacks"].items():
            callback = self.resumables[name]
            for key, value in attributes.items():
                if value is _UNSET:
                    vars(callback).pop(key, None)
                else:
                    setattr(callback, key, value)
        self.events.events[:] = snapshot["events"]
        self.history, self.epochs_done = snapshot["history"], snapshot["epochs_done"]

    def _load(self, folder: str) -> bool:
        """Reads the whole checkpoint, then applies it: the state and arrays are read
        and checked before any variable changes."""
        state = _read_state(os.path.join(folder, STATE_FILE))
        unknown = sorted(set(state["callbacks"]) - set(self.resumables))
        missing = sorted(set(self.resumables) - set(state["callbacks"]))
        if unknown or missing:
            raise ValueError(
                f"the checkpoint's callbacks {sorted(state['callbacks'])} differ from this "
                f"run's {sorted(self.resumables)}"
            )
        arrays = {name: self._read_arrays(folder, name) for name in self.resumables}
        self._checkpoint().read(
            os.path.join(folder, VARIABLES_PREFIX)
        ).assert_existing_objects_matched()
        for name, callback in self.resumables.items():
            callback.set_state(state["callbacks"][name])
            callback.set_arrays(arrays[name])
        self.epochs_done = state["epochs_done"]
        self.history = {key: list(values) for key, values in state["history"].items()}
        self.events.events[:] = state["events"]
        return state["finished"]

    def _read_arrays(self, folder: str, name: str) -> dict[str, list[np.ndarray]]:
        path = os.path.join(folder, f"arrays-{name}.npz")
        if not tf.io.gfile.exists(path):
            return {}
        with tf.io.gfile.GFile(path, "rb") as source:
            content = io.BytesIO(source.read())
        with np.load(content) as stored:
            arrays: dict[str, list[np.ndarray]] = {}
            for key in sorted(stored.files, key=lambda k: int(k.rsplit("/", 1)[1])):
                arrays.setdefault(key.rsplit("/", 1)[0], []).append(stored[key])
        return arrays

    # --- save ---------------------------------------------------------------------------

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs_done = epoch + 1
        if self.epochs_done % self.every_epochs == 0:
            self.save(finished=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.save(finished=True)

    def save(self, finished: bool) -> str:
        """Write the checkpoint for the epochs done so far and prune older ones."""
        chief = _is_chief()
        base = (
            self.directory
            if chief
            else os.path.join(self.directory, f".worker-{os.getpid()}-{time.monotonic_ns()}")
        )
        folder = _epoch_dir(base, self.epochs_done)
        if tf.io.gfile.exists(folder):
            tf.io.gfile.rmtree(folder)
        tf.io.gfile.makedirs(folder)
        self._checkpoint().write(os.path.join(folder, VARIABLES_PREFIX))
        if not chief:
            tf.io.gfile.rmtree(base)
            return folder
        for name, callback in self.resumables.items():
            self._write_arrays(folder, name, callback.get_arrays())
        state = {
            "epochs_done": self.epochs_done,
            "finished": finished,
            "step": int(self.model.optimizer.iterations.numpy()),
            "callbacks": {name: cb.get_state() for name, cb in self.resumables.items()},
            "history": self.history,
            "events": self.events.events,
        }
        content = json.dumps(state, default=_plain, sort_keys=True)
        checksum = hashlib.sha256(content.encode()).hexdigest()
        write_atomically(
            os.path.join(folder, STATE_FILE),
            json.dumps({CHECKSUM: checksum, "state": json.loads(content)}),
        )
        self._prune(keep_from=folder)
        return folder

    def _write_arrays(self, folder: str, name: str, arrays: dict) -> None:
        flat = {
            f"{key}/{index}": array
            for key, values in arrays.items()
            if values is not None
            for index, array in enumerate(values)
        }
        if flat:
            buffer = io.BytesIO()  # zip needs to seek, which a GFile opened to write cannot
            np.savez(buffer, **flat)
            with tf.io.gfile.GFile(os.path.join(folder, f"arrays-{name}.npz"), "wb") as out:
                out.write(buffer.getvalue())

    def _prune(self, keep_from: str) -> None:
        """Keep the newest `keep` complete checkpoints; drop older and incomplete ones."""
        complete = self.complete_checkpoints()
        keep = set(complete[-self.keep :]) | {keep_from}
        for name in tf.io.gfile.listdir(self.directory):
            folder = os.path.join(self.directory, name.rstrip("/"))
            if _EPOCH_DIR.match(name.rstrip("/")) and folder not in keep:
                tf.io.gfile.rmtree(folder)

    def discard(self) -> None:
        """Remove every checkpoint: called once the trained model is safely exported."""
        if tf.io.gfile.isdir(self.directory):
            tf.io.gfile.rmtree(self.directory)

    def _checkpoint(self) -> tf.train.Checkpoint:
        parts = optimizer_parts(self.model.optimizer)
        return tf.train.Checkpoint(model=self.model, **parts)
