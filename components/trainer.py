"""The generic TFX Trainer `run_fn`: builds the domain's model from its config, trains it
on the transformed examples and exports it with the serving signatures."""

from __future__ import annotations

import hashlib
import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from components.elastic import EventLog, build_callbacks, resume_checkpoint
from components.features import (
    LABEL_VOCABULARY,
    RESUME_ROOT_KEY,
    from_custom_config,
    label_key,
    transformed_name,
)
from components.metrics import KolmogorovSmirnov
from components.models.ft_transformer import TabularInputs, build_ft_transformer
from components.optimizers import AdamWVariableDecay
from components.preprocessing import NUM_OOV_BUCKETS
from pipelines.config import TRAINING_METRICS, DomainConfig
from serving.signatures import make_signatures

HISTORY_FILE = "history.json"


def _dataset(
    fn_args: tfx.components.FnArgs,
    files: list[str],
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    input_keys: list[str],
) -> tf.data.Dataset:
    dataset = fn_args.data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(
            batch_size=config.training.batch_size,
            label_key=label_key(config),
            shuffle_seed=config.training.seed,
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    return dataset.map(lambda features, label: ({k: features[k] for k in input_keys}, label))


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
    features = config.features
    inputs = TabularInputs(
        numeric=list(features.numeric),
        categorical={
            name: tf_transform_output.vocabulary_size_by_name(name) + NUM_OOV_BUCKETS
            for name in features.categorical
        },
    )
    num_classes = len(features.label.classes)
    model = build_ft_transformer(inputs, config.model, num_classes, input_name=transformed_name)
    optimizer = AdamWVariableDecay(
        learning_rate=config.training.learning_rate, weight_decay=config.training.weight_decay
    )
    if num_classes == 2:
        loss = tf.keras.losses.BinaryCrossentropy()
        available = {
            "auc": lambda: tf.keras.metrics.AUC(name="auc"),
            "pr_auc": lambda: tf.keras.metrics.AUC(curve="PR", name="pr_auc"),
            "ks": lambda: KolmogorovSmirnov(name="ks"),
            "accuracy": lambda: tf.keras.metrics.BinaryAccuracy(name="accuracy"),
        }
        names = TRAINING_METRICS["binary"]
    else:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()
        available = {"accuracy": lambda: tf.keras.metrics.SparseCategoricalAccuracy("accuracy")}
        names = TRAINING_METRICS["multiclass"]
    metrics = [available[name]() for name in names if name != "loss"]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def write_history(
    run_dir: str,
    history: dict[str, list[float]],
    weights: dict | None,
    events: EventLog,
    resumed_from: str | None = None,
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
            },
            out,
        )
    return path


def resume_directory(fn_args: tfx.components.FnArgs) -> str:
    """Where this training's checkpoints live: keyed by everything that defines the
    training (config, input artifacts, steps, base model), so a restarted Trainer with
    the same inputs finds them and one with new data or a new config starts afresh."""
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
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(root, key)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = from_custom_config(fn_args.custom_config)
    training = config.training
    tf.keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    model = build_model(config, tf_transform_output)
    input_keys = list(model.input.keys())
    train = _dataset(fn_args, fn_args.train_files, tf_transform_output, config, input_keys)
    evaluation = _dataset(fn_args, fn_args.eval_files, tf_transform_output, config, input_keys)
    weights = (
        class_weights(tf_transform_output, config) if training.class_weight == "balanced" else None
    )
    logging.info("class weights: %s", weights)

    epochs = max(1, fn_args.train_steps // training.steps_per_epoch)
    events = EventLog()
    monitor = training.elastic.attention_monitor
    probe = next(iter(evaluation.unbatch().batch(monitor.probe_examples)))[0] if monitor else None
    callbacks = build_callbacks(
        training.elastic, fn_args.model_run_dir, training.learning_rate, events, probe
    )
    resume = resume_checkpoint(training.elastic, resume_directory(fn_args), callbacks, events)
    initial_epoch, finished = resume.restore(model) if resume else (0, False)
    if not finished:
        history = model.fit(
            train,
            initial_epoch=initial_epoch,
            epochs=epochs,
            steps_per_epoch=training.steps_per_epoch,
            validation_data=evaluation,
            validation_steps=fn_args.eval_steps,
            class_weight=weights,
            callbacks=callbacks + ([resume] if resume else []),
            verbose=0,
        )
    merged = resume.history if resume else history.history
    write_history(
        fn_args.model_run_dir, merged, weights, events, resume.restored_from if resume else None
    )
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=make_signatures(model, tf_transform_output, config, class_weights=weights),
    )
    if resume:
        resume.discard()
