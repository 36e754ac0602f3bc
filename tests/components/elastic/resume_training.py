"""A small elastic training run for the resume tests, run as a subprocess so it can be
killed: `python resume_training.py RUN_DIR [--hang-at EPOCH:BATCH] [--resume-dir DIR]`.

The model (a transformer block with variable dropout, AdamW with a variable weight
decay) fits random labels that validation flips, so the learning rate is cut and the dropout and
weight decay are raised within a few epochs. After each epoch it appends a line to
`RUN_DIR/trace.jsonl` with what a resumed run must have restored (learning rate,
dropout, weight decay, step, every callback's counters); a restored run first appends
the state it restored. `--hang-at` writes RUN_DIR/hanging and stops in that batch,
for the test to kill it. With TF_CONFIG naming several workers it trains under
MultiWorkerMirroredStrategy, each worker with its own RUN_DIR and one shared
`--resume-dir`, as workers share a bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

from aet.components.attention import TransformerBlock
from aet.components.distribution import training_strategy
from aet.components.elastic import EventLog, build_callbacks, resume_checkpoint
from aet.components.elastic.regularisation import variable_dropouts
from aet.components.optimizers import AdamWVariableDecay
from aet.config import ElasticConfig

EPOCHS = 9
STEPS_PER_EPOCH = 4
BASE_RATE = 0.05
CONFIG = ElasticConfig.parse_obj(
    {
        "monitor": "val_loss",
        "learning_rate": {"warmup_steps": 6, "factor": 0.5, "patience": 1},
        "regularisation": {
            "metric": "loss",
            "widen_above": 0.0,
            "narrow_below": -10.0,
            "settle_epochs": 0,
            "patience": 1,
            "step": 0.1,
            "max_rate": 0.5,
            "weight_decay_factor": 2.0,
        },
        "early_stopping": None,
        "attention_monitor": None,
        "resume": {"every_epochs": 1, "keep": 2},
    }
)


def _data(flip_labels: bool) -> tf.data.Dataset:
    """Random examples; validation flips the labels, so it gets worse as training fits.
    Under several workers each takes its share of every global batch of 16."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS_PER_EPOCH * 16, 3, 4)).astype("float32")
    y = rng.integers(0, 2, size=(len(x), 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, 1 - y if flip_labels else y)).batch(16)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _model() -> tf.keras.Model:
    tokens = tf.keras.Input((3, 4))
    x = TransformerBlock(4, 2, dropout=0.1, attention_dropout=0.0)(tokens)
    output = tf.keras.layers.Dense(1, activation="sigmoid")(tf.keras.layers.Flatten()(x))
    model = tf.keras.Model(tokens, output)
    model.compile(
        optimizer=AdamWVariableDecay(learning_rate=BASE_RATE, weight_decay=0.01),
        loss="binary_crossentropy",
    )
    return model


def snapshot(model: tf.keras.Model, callbacks: list, epoch: int) -> dict:
    """What a resumed run must agree on with the uninterrupted one after `epoch`."""
    optimizer = model.optimizer
    return {
        "epoch": epoch,
        "step": int(optimizer.iterations.numpy()),
        "learning_rate": round(float(optimizer.learning_rate.numpy()), 8),
        "dropout": round(float(variable_dropouts(model)[0].rate_variable.numpy()), 6),
        "weight_decay": round(float(optimizer.weight_decay.numpy()), 8),
        "callbacks": {
            type(c).__name__: c.get_state() for c in callbacks if hasattr(c, "get_state")
        },
    }


class Trace(tf.keras.callbacks.Callback):
    def __init__(self, path: str, callbacks: list, hang_at: tuple[int, int] | None) -> None:
        super().__init__()
        self.path, self.callbacks, self.hang_at = path, callbacks, hang_at
        self.epoch = 0

    def write(self, line: dict) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps(line) + "\n")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.hang_at == (self.epoch, batch):
            with open(os.path.join(os.path.dirname(self.path), "hanging"), "w") as out:
                out.write(str(os.getpid()))
            while True:
                time.sleep(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.write({"kind": "epoch", **snapshot(self.model, self.callbacks, epoch)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--hang-at", help="EPOCH:BATCH")
    parser.add_argument("--resume-dir", help="default: RUN_DIR/resume")
    args = parser.parse_args()
    hang_at = tuple(int(part) for part in args.hang_at.split(":")) if args.hang_at else None

    tf.keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    strategy = training_strategy()
    with strategy.scope():
        model = _model()
    events = EventLog()
    callbacks = build_callbacks(CONFIG, args.run_dir, BASE_RATE, events)
    resume_dir = args.resume_dir or os.path.join(args.run_dir, "resume")
    resume = resume_checkpoint(CONFIG, resume_dir, callbacks, events)
    trace = Trace(os.path.join(args.run_dir, "trace.jsonl"), callbacks, hang_at)
    initial_epoch, finished = resume.restore(model)
    if initial_epoch:
        trace.write({"kind": "restored", **snapshot(model, callbacks, initial_epoch - 1)})
    if not finished:
        model.fit(
            _data(flip_labels=False).repeat(),
            epochs=EPOCHS,
            initial_epoch=initial_epoch,
            steps_per_epoch=STEPS_PER_EPOCH,
            validation_data=_data(flip_labels=True),
            callbacks=[*callbacks, trace, resume],
            verbose=0,
        )
    with open(os.path.join(args.run_dir, "result.json"), "w") as out:
        json.dump(
            {
                "step": int(model.optimizer.iterations.numpy()),
                "history": resume.history,
                "events": events.events,
                "resumed_from": resume.restored_from,
                "replicas": strategy.num_replicas_in_sync,
            },
            out,
        )


if __name__ == "__main__":
    main()
