"""Warm-up requests: what TF Serving replays when it loads a model, one small and one
larger request per client-facing signature, built from the data kind's synthetic
examples (look-alikes of held-out ones, none of their rows: the file ships with every
pushed version).

TF Serving reads them from `assets.extra/tf_serving_warmup_requests` (a TFRecord file of
PredictionLog protos) and runs each before it marks the version available, so the first
client does not pay for graph initialisation. The in-process serving check
(components/serving_check/check.py) replays the same records, so what it checked is exactly
what the server will run first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    model_pb2,
    predict_pb2,
    prediction_log_pb2,
)

from aet.config import DomainConfig
from aet.config.contract import CLASSIFICATION, EXPLANATION
from aet.config.kinds import kind_of


@dataclass(frozen=True)
class ReplayedRequest:
    """A warm-up record as a Python call: the signature and its input tensors."""

    signature: str
    inputs: dict[str, tf.Tensor]
    batch_size: int


def first_values(examples: list[bytes], feature: str, dtype: tf.DType) -> np.ndarray:
    """Each example's first value of `feature` ('' or 0 where it is absent)."""
    parsed = tf.io.parse_example(examples, {feature: tf.io.RaggedFeature(dtype)})[feature]
    return parsed.to_tensor(shape=[len(examples), 1])[:, 0].numpy()


def padded_values(examples: list[bytes], feature: str) -> np.ndarray:
    """Each example's strings of `feature`, padded with '' to the longest."""
    parsed = tf.io.parse_example(examples, {feature: tf.io.RaggedFeature(tf.string)})[feature]
    return parsed.to_tensor(b"").numpy()


def _predict_log(model_name: str, signature: str, inputs: dict[str, np.ndarray]):
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
    )
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def _classify_log(model_name: str, examples: list[bytes]):
    request = classification_pb2.ClassificationRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=CLASSIFICATION)
    )
    for serialized in examples:
        request.input.example_list.examples.add().ParseFromString(serialized)
    return prediction_log_pb2.PredictionLog(
        classify_log=prediction_log_pb2.ClassifyLog(request=request)
    )


def build_warmup_requests(
    config: DomainConfig,
    model_name: str,
    examples: list[bytes],
    signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
) -> list[prediction_log_pb2.PredictionLog]:
    """For each client-facing signature, a request of one example and one of all of
    them: `serving_default` and `explain` on tf.Examples, the JSON-friendly signature,
    and for classifiers TF Serving's Classify API."""
    kind = kind_of(config)
    json_signature, json_inputs = kind.warmup_inputs(config, signatures)
    logs = []
    for batch in (examples[:1], examples):
        for name in ("serving_default", EXPLANATION):
            examples_in = {"examples": np.array(batch, dtype=object)}
            logs.append(_predict_log(model_name, name, examples_in))
        logs.append(_predict_log(model_name, json_signature, json_inputs(batch)))
        if kind.serves_classify:
            logs.append(_classify_log(model_name, batch))
    return logs


def write_warmup_file(path: str, logs: list[prediction_log_pb2.PredictionLog]) -> None:
    """Map fields (a request's inputs) in key order: the same requests give the same
    bytes in every process, so a re-run's model is seen to be the one already served."""
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString(deterministic=True))


def read_warmup_file(path: str) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLog records of a warm-up file (what TF Serving parses)."""
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(path)
    ]


def replayed(logs: list[prediction_log_pb2.PredictionLog]) -> Iterator[ReplayedRequest]:
    """Each record as the call a model server makes: Predict's tensors as they are,
    Classify's examples serialized into the signature's one string input."""
    for log in logs:
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            request = log.predict_log.request
            inputs = {
                name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()
            }
            size = int(next(iter(inputs.values())).shape[0])
            yield ReplayedRequest(request.model_spec.signature_name, inputs, size)
        elif kind == "classify_log":
            request = log.classify_log.request
            serialized = [e.SerializeToString() for e in request.input.example_list.examples]
            yield ReplayedRequest(
                request.model_spec.signature_name,
                {"inputs": tf.constant(serialized)},
                len(serialized),
            )
        else:
            raise ValueError(f"warm-up record of an unsupported kind: {kind}")
