"""A finance_risk model trained for two epochs on the session's Transform run and
exported as the Trainer exports it: what the serving tests load, check and call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tfx import v1 as tfx

from aet.components.export.signatures import save_for_serving
from aet.components.features import transformed_name
from aet.components.trainer import build_model
from aet.config.kinds import kind_of
from aet.kinds.base import ExportContext
from tests.components.trainer_worker import dataset_factory
from tests.transform_fixture import TransformRun


def train_briefly(transform_run: TransformRun) -> tf.keras.Model:
    """Two epochs move the weights off their initial values, so rows score apart."""
    tf.keras.utils.set_random_seed(0)
    model = build_model(transform_run.config, transform_run.tf_transform_output)
    rows = transform_run.train_transformed
    x = {key: np.stack([row[key] for row in rows]) for key in model.input}
    label = transformed_name(transform_run.config.features.label.name)
    y = np.stack([row[label] for row in rows]).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model


def export(
    model: tf.keras.Model,
    transform_run: TransformRun,
    path: Path,
    signatures: dict | None = None,
) -> str:
    """Saves `model` with the Trainer's signatures (or `signatures`, to break one)."""
    if signatures is None:
        signatures = trainer_signatures(model, transform_run)
    save_for_serving(model, str(path), signatures)
    return str(path)


_SHARED: dict[str, tuple[tf.keras.Model, str]] = {}


def shared_exported_model(
    transform_run: TransformRun, tmp_path_factory
) -> tuple[tf.keras.Model, str]:
    """(model, SavedModel path) trained and exported once per session and domain; the
    path is a version folder (`.../1`), as a model server expects it."""
    name = transform_run.config.name
    if name not in _SHARED:
        model = train_briefly(transform_run)
        path = tmp_path_factory.mktemp(f"exported_{name}") / "1"
        _SHARED[name] = model, export(model, transform_run, path)
    return _SHARED[name]


def trainer_signatures(
    model: tf.keras.Model, transform_run: TransformRun, class_weights: dict | None = None
) -> dict:
    """The signatures the Trainer exports `model` with, as its data kind builds them
    (its baselines fitted on the transformed training rows)."""
    config = transform_run.config
    fn_args = tfx.components.FnArgs(
        train_files=["train"],
        data_accessor=tfx.components.DataAccessor(
            tf_dataset_factory=dataset_factory(transform_run.train_transformed),
            record_batch_factory=None,
            data_view_decode_fn=None,
        ),
    )
    return kind_of(config).signatures(
        model, transform_run.tf_transform_output, config, ExportContext(fn_args, class_weights)
    )
