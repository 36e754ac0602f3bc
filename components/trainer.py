"""The generic TFX Trainer `run_fn`: builds the domain's model from its config, trains it
on the transformed examples and exports it with the serving signatures."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import time

import keras_tuner as kt
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from aet.components.distribution import training_strategy
from aet.components.elastic import EventLog, build_callbacks, resume_checkpoint
from aet.components.elastic.unfreezing import unfreezing_groups
from aet.components.export.signatures import save_for_serving
from aet.components.features import (
    LABEL_VOCABULARY,
    RESUME_ROOT_KEY,
    from_custom_config,
    label_key,
)
from aet.components.optimizers import layerwise_optimizer
from aet.components.warm_start import warm_start
from aet.config import DomainConfig, tunable_values
from aet.config.kinds import kind_of
from aet.kinds.base import ExportContext

HISTORY_FILE = "history.json"


def _dataset(
    fn_args: FnArgs,
    files: list[str],
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    input_keys: list[str],
    training: bool,
) -> tf.data.Dataset:
    """Training data shuffled and repeated; validation data in file order, one pass of
    at most `eval_steps` batches, so every epoch is validated on the same examples and
    the elastic callbacks react to the model, not to a new sample."""
    dataset = fn_args.data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(
            batch_size=config.training.batch_size,
            label_key=label_key(config),
            shuffle=training,
            shuffle_seed=config.training.seed,
            num_epochs=None if training else 1,
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    if not training and fn_args.eval_steps:
        dataset = dataset.take(fn_args.eval_steps)
    dataset = dataset.map(lambda features, label: ({k: features[k] for k in input_keys}, label))
    return kind_of(config).training_pairs(dataset, config)


def fit_inputs(
    fn_args: FnArgs,
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    input_keys: list[str],
) -> tuple[tf.data.Dataset, tf.data.Dataset, dict | None]:
    """What `model.fit` takes, for the Trainer and each tuning trial alike: the training
    and validation datasets, and balanced class weights when a classifier's config asks
    for them."""
    train = _dataset(
        fn_args, fn_args.train_files, tf_transform_output, config, input_keys, training=True
    )
    evaluation = _dataset(
        fn_args, fn_args.eval_files, tf_transform_output, config, input_keys, training=False
    )
    weights = (
        class_weights(tf_transform_output, config)
        if config.training.class_weight == "balanced" and kind_of(config).uses_class_weights
        else None
    )
    return train, evaluation, weights


@functools.lru_cache(maxsize=8)
def count_examples(patterns: tuple[str, ...]) -> int:
    """How many records the (GZIP) TFRecord files matching `patterns` hold (TFX gives a
    split as `.../Split-train/*`): one pass, in graph mode."""
    files = sorted(path for pattern in patterns for path in tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def steps_per_epoch(config: DomainConfig, train_files: list[str]) -> int:
    """The config's steps per epoch, or one pass over the training split at its batch
    size, so a config says `epochs` without knowing how large its data is."""
    training = config.training
    if training.steps_per_epoch is not None:
        return training.steps_per_epoch
    return max(1, math.ceil(count_examples(tuple(train_files)) / training.batch_size))


def training_epochs(config: DomainConfig, steps: int) -> int:
    """`training.epochs` (default 20), or `training.train_steps` in epochs of `steps`."""
    training = config.training
    if training.train_steps is not None:
        return max(1, training.train_steps // steps)
    return training.planned_epochs


def class_weights(tf_transform_output: tft.TFTransformOutput, config: DomainConfig) -> dict:
    """Balanced weights n / (k * n_c) from the label frequencies Transform counted."""
    path = tf_transform_output.vocabulary_file_by_name(LABEL_VOCABULARY)
    counts = {}
    with tf.io.gfile.GFile(path) as vocabulary:
        for line in vocabulary:
            count, value = line.rstrip("\n").split(" ", 1)
            counts[value] = float(count)
    classes = config.features.label.classes
    unknown = sorted(set(counts) - set(classes))
    if unknown:
        raise ValueError(
            f"label '{config.features.label.name}' has values {unknown} that are not in "
            f"features.label.classes {classes}"
        )
    total = sum(counts.values())
    return {
        index: total / (len(classes) * counts[value]) if counts.get(value) else 0.0
        for index, value in enumerate(classes)
    }


def build_model(config: DomainConfig, tf_transform_output: tft.TFTransformOutput) -> tf.keras.Model:
    """The domain's model: the data kind builds `config.model.architecture`, compiled
    with AdamW at the config's rate and weight decay."""
    return kind_of(config).build_model(config, tf_transform_output)


def start_from_base_model(
    model: tf.keras.Model,
    base_model_dir: str,
    config: DomainConfig,
    tf_transform_output: tft.TFTransformOutput,
    events: EventLog,
) -> list[list[tf.keras.layers.Layer]] | None:
    """Warm-start `model` from the base model (served, else blessed) and, when the config
    unfreezes in stages, recompile it with one optimizer per layer group (earlier groups
    slower).
    Returns the groups for the unfreezing callback, or None."""
    kind = kind_of(config)
    report = warm_start(
        model, base_model_dir, kind.embedding_vocabularies(config, tf_transform_output)
    )
    events.record(
        epoch=0,
        step=0,
        callback="WarmStart",
        what="weights",
        from_value=None,
        to_value=base_model_dir,
        why=report.describe(),
    )
    unfreezing = config.training.elastic.unfreezing
    if not unfreezing:
        return None
    groups = unfreezing_groups(model)
    training = config.training
    optimizer = layerwise_optimizer(
        groups, training.learning_rate, training.weight_decay, unfreezing.rate_decay
    )
    kind.compile(model, config, optimizer)
    return groups


def write_history(
    run_dir: str,
    history: dict[str, list[float]],
    weights: dict | None,
    events: EventLog,
    resumed_from: str | None = None,
    replicas: int = 1,
    hyperparameters: dict | None = None,
    steps_per_epoch: int | None = None,
    fit_seconds: float | None = None,
) -> str:
    """history.json: the per-epoch metrics (of every epoch, those before a resume
    included), what the elastic callbacks changed, and the seconds this Trainer spent
    fitting (after a resume, its own part), for the run summary."""
    path = os.path.join(run_dir, HISTORY_FILE)
    with tf.io.gfile.GFile(path, "w") as out:
        json.dump(
            {
                "epochs_run": len(history.get("loss", [])),
                "class_weights": weights,
                "history": {k: [float(v) for v in vs] for k, vs in history.items()},
                "events": events.events,
                "resumed_from": resumed_from,
                "replicas": replicas,
                "hyperparameters": hyperparameters or {},
                "steps_per_epoch": steps_per_epoch,
                "fit_seconds": None if fit_seconds is None else round(fit_seconds, 2),
            },
            out,
        )
    return path


def resume_directory(fn_args: FnArgs) -> str:
    """Where this training's checkpoints live: keyed by everything that defines the
    training (config, input artifacts, steps, base model, tuned hyperparameters), so a
    restarted Trainer with the same inputs finds them and one with new data or a new
    config starts afresh."""
    root = fn_args.custom_config.get(RESUME_ROOT_KEY) or os.path.join(
        fn_args.model_run_dir, "resume"
    )
    identity = {
        "custom_config": {k: v for k, v in fn_args.custom_config.items() if k != RESUME_ROOT_KEY},
        "train_files": sorted(fn_args.train_files),
        "eval_files": sorted(fn_args.eval_files),
        "transform_output": fn_args.transform_output,
        "train_steps": fn_args.train_steps,
        "base_model": getattr(fn_args, "base_model", None),
        "hyperparameters": getattr(fn_args, "hyperparameters", None),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(root, key)


def tuned_values(fn_args: FnArgs) -> dict:
    """The hyperparameters the Tuner (or the last tuning) chose, if it gave any: TFX
    hands them over as keras-tuner's HyperParameters config."""
    if not getattr(fn_args, "hyperparameters", None):
        return {}
    return tunable_values(kt.HyperParameters.from_config(fn_args.hyperparameters).values)


def run_fn(fn_args: FnArgs) -> None:
    tuned = tuned_values(fn_args)
    config = from_custom_config(fn_args.custom_config).with_hyperparameters(tuned)
    training = config.training
    tf.keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    strategy = training_strategy()
    chief = strategy.extended.should_checkpoint

    events = EventLog()
    # The factory gives a base model only where the config warm-starts this run.
    base_model = getattr(fn_args, "base_model", None)
    with strategy.scope():
        model = build_model(config, tf_transform_output)
        groups = (
            start_from_base_model(model, base_model, config, tf_transform_output, events)
            if base_model
            else None
        )
    train, evaluation, weights = fit_inputs(
        fn_args, tf_transform_output, config, list(model.input.keys())
    )
    logging.info("class weights: %s", weights)

    steps = steps_per_epoch(config, fn_args.train_files)
    epochs = training_epochs(config, steps)
    shortened = max(1, round(epochs * training.warm_start_share))
    if base_model and shortened < epochs:  # it starts from a trained model
        events.record(
            epoch=0,
            step=0,
            callback="WarmStart",
            what="epochs",
            from_value=epochs,
            to_value=shortened,
            why=f"warm-started: training.warm_start_share is {training.warm_start_share}",
        )
        epochs = shortened
    logging.info("training %d epochs of %d steps", epochs, steps)
    monitor = training.elastic.attention_monitor
    probe = next(iter(evaluation.unbatch().batch(monitor.probe_examples)))[0] if monitor else None
    # Other workers log to scratch: the run folder is the chief's.
    log_dir = fn_args.model_run_dir if chief else tempfile.mkdtemp(prefix="aet-worker-logs-")
    callbacks = build_callbacks(
        training.elastic, log_dir, training.learning_rate, events, probe, groups
    )
    resume = resume_checkpoint(training.elastic, resume_directory(fn_args), callbacks, events)
    initial_epoch, finished = resume.restore(model) if resume else (0, False)
    if not base_model and initial_epoch == 0 and not finished:  # a new model, from the start
        started = kind_of(config).initialise(model, config, tf_transform_output, fn_args, weights)
        if started:
            events.record(
                epoch=0, step=0, callback="LinearStart", what="weights",
                from_value=None, to_value=None, why=started,
            )  # fmt: skip
    fit_started = time.monotonic()
    if not finished:
        history = model.fit(
            train,
            initial_epoch=initial_epoch,
            epochs=epochs,
            steps_per_epoch=steps,
            validation_data=evaluation,
            class_weight=weights,
            callbacks=callbacks + ([resume] if resume else []),
            verbose=0,
        )
    fit_seconds = time.monotonic() - fit_started
    merged = resume.history if resume else history.history
    # Every worker saves (saving is collective); only the chief's copy is the model.
    export_dir = fn_args.serving_model_dir if chief else tempfile.mkdtemp(prefix="aet-worker-")
    signatures = kind_of(config).signatures(
        model, tf_transform_output, config, ExportContext(fn_args, class_weights=weights)
    )
    save_for_serving(model, export_dir, signatures)
    if not chief:
        for scratch in (export_dir, log_dir):
            tf.io.gfile.rmtree(scratch)
        return
    write_history(
        fn_args.model_run_dir,
        merged,
        weights,
        events,
        resume.restored_from if resume else None,
        strategy.num_replicas_in_sync,
        tuned,
        steps,
        fit_seconds,
    )
    if resume:
        resume.discard()
