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

import keras_tuner as kt
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from aet.components.distribution import training_strategy
from aet.components.elastic import EventLog, build_callbacks, resume_checkpoint
from aet.components.elastic.unfreezing import unfreezing_groups
from aet.components.export.ranking_signatures import make_ranking_signatures
from aet.components.export.signatures import make_signatures, save_for_serving
from aet.components.features import (
    LABEL_VOCABULARY,
    RESUME_ROOT_KEY,
    from_custom_config,
    label_key,
    transformed_name,
)
from aet.components.metrics import build_keras_metric
from aet.components.models.attention_cnn import build_attention_cnn
from aet.components.models.ft_transformer import TabularInputs, build_ft_transformer
from aet.components.models.sasrec import build_sasrec, next_item_labels
from aet.components.optimizers import AdamWVariableDecay, layerwise_optimizer
from aet.components.preprocessing import ITEM_VOCABULARY, NUM_OOV_BUCKETS
from aet.components.recommendation_baselines import fit_baselines
from aet.components.warm_start import warm_start
from aet.config import DomainConfig, tunable_values
from aet.config.example_features import HISTORY_ITEMS
from aet.config.metrics import METRICS, training_metrics

HISTORY_FILE = "history.json"


def _dataset(
    fn_args: tfx.components.FnArgs,
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
    if config.task == "ranking":  # every position learns the item after it
        history = transformed_name(HISTORY_ITEMS)
        dataset = dataset.map(lambda x, target: (x, next_item_labels(x[history], target)))
    return dataset


def training_sequences(
    fn_args: tfx.components.FnArgs, tf_transform_output: tft.TFTransformOutput, config: DomainConfig
) -> list[np.ndarray]:
    """Each training example's item ids, history then target (what a recommender's
    baselines are fitted on): one pass over the transformed training split."""
    dataset = fn_args.data_accessor.tf_dataset_factory(
        fn_args.train_files,
        tfxio.TensorFlowDatasetOptions(batch_size=256, shuffle=False, num_epochs=1),
        tf_transform_output.transformed_metadata.schema,
    )
    history, target = transformed_name(HISTORY_ITEMS), label_key(config)
    sequences = []
    for batch in dataset:
        for items, last in zip(batch[history].numpy(), batch[target].numpy(), strict=True):
            sequences.append(np.append(items[items > 0], last))
    return sequences


def fit_inputs(
    fn_args: tfx.components.FnArgs,
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
        if config.training.class_weight == "balanced" and config.task != "ranking"
        else None
    )
    return train, evaluation, weights


@functools.lru_cache(maxsize=8)
def count_examples(files: tuple[str, ...]) -> int:
    """How many records the (GZIP) TFRecord `files` hold: one pass, in graph mode."""
    dataset = tf.data.TFRecordDataset(list(files), compression_type="GZIP")
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
    """The domain's model (config.model.architecture), compiled with AdamW at the
    config's rate and weight decay."""
    features = config.features
    if config.task == "ranking":
        model = build_sasrec(
            config.model,
            tf_transform_output.vocabulary_size_by_name(ITEM_VOCABULARY) + 1 + NUM_OOV_BUCKETS,
            features.sequence.max_length,
            transformed_name(HISTORY_ITEMS),
            sampled_softmax=config.training.sampled_softmax,
            cutoff=config.evaluation.cutoff,
            exclude_seen=config.evaluation.exclude_seen,
        )
        model.compile(
            optimizer=AdamWVariableDecay(
                learning_rate=config.training.learning_rate,
                weight_decay=config.training.weight_decay,
            )
        )
        return model
    num_classes = len(features.label.classes)
    if config.model.architecture == "attention_cnn":
        model = build_attention_cnn(
            features.image, config.model, num_classes, transformed_name(features.image.name)
        )
    else:
        inputs = TabularInputs(
            numeric=list(features.numeric),
            categorical={
                name: tf_transform_output.vocabulary_size_by_name(name) + NUM_OOV_BUCKETS
                for name in features.categorical
            },
        )
        model = build_ft_transformer(inputs, config.model, num_classes, input_name=transformed_name)
    optimizer = AdamWVariableDecay(
        learning_rate=config.training.learning_rate, weight_decay=config.training.weight_decay
    )
    compile_model(model, config, optimizer)
    return model


def compile_model(
    model: tf.keras.Model, config: DomainConfig, optimizer: tf.keras.optimizers.Optimizer
) -> None:
    """The label's loss, and every metric declared as trained for the task
    (config/metrics.py)."""
    if config.is_binary:
        loss = tf.keras.losses.BinaryCrossentropy()
    else:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()
    metrics = [
        build_keras_metric(METRICS[name].training[config.task])
        for name in training_metrics(config.task)
        if METRICS[name].training[config.task] is not None
    ]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def start_from_base_model(
    model: tf.keras.Model,
    base_model_dir: str,
    config: DomainConfig,
    tf_transform_output: tft.TFTransformOutput,
    events: EventLog,
) -> list[list[tf.keras.layers.Layer]] | None:
    """Warm-start `model` from the blessed model and, when the config unfreezes in
    stages, recompile it with one optimizer per layer group (earlier groups slower).
    Returns the groups for the unfreezing callback, or None."""
    vocabularies = {
        f"{name}_emb": tf_transform_output.vocabulary_file_by_name(name)
        for name in config.features.categorical
    }
    report = warm_start(model, base_model_dir, vocabularies)
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
    compile_model(model, config, optimizer)
    return groups


def write_history(
    run_dir: str,
    history: dict[str, list[float]],
    weights: dict | None,
    events: EventLog,
    resumed_from: str | None = None,
    replicas: int = 1,
    hyperparameters: dict | None = None,
) -> str:
    """history.json: the per-epoch metrics (of every epoch, those before a resume
    included) and what the elastic callbacks changed, for the run summary."""
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
            },
            out,
        )
    return path


def resume_directory(fn_args: tfx.components.FnArgs) -> str:
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


def tuned_values(fn_args: tfx.components.FnArgs) -> dict:
    """The hyperparameters the Tuner (or the last tuning) chose, if it gave any: TFX
    hands them over as keras-tuner's HyperParameters config."""
    if not getattr(fn_args, "hyperparameters", None):
        return {}
    return tunable_values(kt.HyperParameters.from_config(fn_args.hyperparameters).values)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    tuned = tuned_values(fn_args)
    config = from_custom_config(fn_args.custom_config).with_hyperparameters(tuned)
    training = config.training
    tf.keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    strategy = training_strategy()
    chief = strategy.extended.should_checkpoint

    events = EventLog()
    base_model = getattr(fn_args, "base_model", None) if training.warm_start else None
    if training.warm_start and not base_model:
        logging.info("warm start asked for, but there is no blessed model yet: training afresh")
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
    merged = resume.history if resume else history.history
    # Every worker saves (saving is collective); only the chief's copy is the model.
    export_dir = fn_args.serving_model_dir if chief else tempfile.mkdtemp(prefix="aet-worker-")
    if config.task == "ranking":
        baselines = fit_baselines(
            tf_transform_output, training_sequences(fn_args, tf_transform_output, config)
        )
        signatures = make_ranking_signatures(model, tf_transform_output, config, baselines)
    else:
        signatures = make_signatures(model, tf_transform_output, config, class_weights=weights)
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
    )
    if resume:
        resume.discard()
