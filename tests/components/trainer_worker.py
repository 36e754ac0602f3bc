"""Runs `components.trainer.run_fn` outside TFX, as one Trainer worker would, for the
multi-worker test: `python trainer_worker.py SPEC.json`.

TFX hands run_fn a DataAccessor over the transformed examples; this stand-in builds
the same (features, label) batches from the transformed rows of the tests' Transform
run (a pickle), honouring the batch size, label key, shuffle and epoch options.
"""

from __future__ import annotations

import json
import os
import pickle
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
from tfx import v1 as tfx

from aet.components.trainer import run_fn


def dataset_factory(rows: list[dict]):
    """A DataAccessor's tf_dataset_factory over transformed rows held in memory."""

    def tf_dataset_factory(files, options, schema) -> tf.data.Dataset:
        features = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
        label = features.pop(options.label_key)
        dataset = tf.data.Dataset.from_tensor_slices((features, label))
        if options.shuffle:
            dataset = dataset.shuffle(len(rows), seed=options.shuffle_seed)
        return dataset.repeat(options.num_epochs).batch(options.batch_size)

    return tf_dataset_factory


def _dataset_factory(rows_path: str):
    with open(rows_path, "rb") as handle:
        return dataset_factory(pickle.load(handle))


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    accessor = tfx.components.DataAccessor(
        tf_dataset_factory=_dataset_factory(spec["transformed_rows"]),
        record_batch_factory=None,
        data_view_decode_fn=None,
    )
    run_fn(
        tfx.components.FnArgs(
            train_files=["train"],
            eval_files=["eval"],
            transform_output=spec["transform_output"],
            serving_model_dir=spec["serving_model_dir"],
            model_run_dir=spec["model_run_dir"],
            train_steps=spec["train_steps"],
            eval_steps=spec["eval_steps"],
            custom_config=spec["custom_config"],
            data_accessor=accessor,
        )
    )


if __name__ == "__main__":
    main()
