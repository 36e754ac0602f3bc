"""Signatures exported with every classifier (recommenders: kinds/interactions/signatures.py),
and how a SavedModel is saved for TF Serving.

- `serving_default`: serialized tf.Examples of *raw* features (no label needed) -> the
  class probabilities. What TF Serving's Predict API calls, what the warm-up requests
  replay, and what `serving.client` sends for every domain.
- `classification`: the same examples -> `classes` and `scores`, the outputs TF
  Serving's Classify API reads (its method name is set by `set_method_names`).
- the JSON-friendly signature a REST client can write by hand as `instances`, given by
  the data kind: `predict_features` (one named input per raw feature) for tabular
  domains, `predict_image` (the encoded PNG/JPEG, sent as base64) for image domains.
- `explain`: the same examples -> the probabilities and why (the data kind's
  explanation: attributions per feature for tabular domains, a Grad-CAM map for
  images). A signature of its own, so `serving_default` keeps its latency.
- `serve_examples`: the examples again, for TFMA (its EvalConfig names it), with the
  answers of the baselines the kind fits beside the model (a tabular model's logistic
  regression and boosted trees), each an output of its own; and `transform_features`:
  the Transform graph alone, where TFMA reads the transformed label and the derived
  slicing features.

A model trained with class weights w_k learns probabilities inflated in proportion to
w_k (balanced weights make a 30 % class look like 50 %). The served probabilities undo
that, p_k ∝ p'_k / w_k, so a "probability of default" is a calibrated probability and
not an artefact of the training loss; ranking (AUC) is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.core.protobuf import saved_model_pb2

from aet.config import DomainConfig
from aet.config.contract import CLASSIFICATION, CLASSIFY_METHOD, EXPLANATION

# (predict, tf_transform_output, config) -> (name, signature): a kind's JSON-friendly one
JsonSignature = Callable[[Callable[[dict], dict], tft.TFTransformOutput, DomainConfig], tuple]
# (model, serialized examples -> the model's inputs, the model's output -> the served
# probabilities, config) -> the kind's `explain` signature
ExplainSignature = Callable[
    [
        tf.keras.Model,
        Callable[[tf.Tensor], dict],
        Callable[[tf.Tensor], tf.Tensor],
        DomainConfig,
    ],
    tf.types.experimental.GenericFunction,
]


def served_answer(probabilities, config: DomainConfig) -> dict:
    """`serving_default`'s answer from [batch, classes] probabilities (a tensor or an
    array): `probability` of the positive class for a binary label, else every class's."""
    if config.is_binary:
        return {"probability": probabilities[:, 1]}
    return {"probabilities": probabilities}


def undo_class_weights(probabilities: tf.Tensor, class_weights: dict[int, float]) -> tf.Tensor:
    """[batch, k] probabilities of a class-weighted model -> the unweighted ones."""
    weights = [class_weights.get(index) or 1.0 for index in range(probabilities.shape[-1])]
    adjusted = probabilities / tf.constant(weights, probabilities.dtype)
    return adjusted / tf.reduce_sum(adjusted, axis=-1, keepdims=True)


def transform_features_signature(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput
) -> tf.types.experimental.GenericFunction:
    """The Transform graph alone on serialized raw examples (through `model.tft_layer`,
    which the caller has attached): where TFMA reads the transformed label and slices."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict:
        raw = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw)

    return transform_features


def classifier_signatures(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    raw_inputs: list[str],
    json_signature: JsonSignature,
    explain_signature: ExplainSignature,
    class_weights: dict[int, float] | None = None,
    baselines: Mapping[str, Callable[[dict], tf.Tensor]] | None = None,
) -> dict:
    """The exported signatures of a classifier reading the raw features `raw_inputs`;
    `class_weights` are those training used, if any; `baselines` map an output name to
    a fitted baseline (transformed inputs -> [batch, classes] probabilities), answered
    beside the model in `serve_examples` only."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    input_keys = list(model.input.keys()) if isinstance(model.input, dict) else model.input_names
    classes = tf.constant(config.features.label.classes)

    def served(output: tf.Tensor) -> tf.Tensor:
        """The model's output -> [batch, classes] probabilities as clients get them."""
        if config.is_binary:
            output = tf.concat([1.0 - output, output], axis=-1)
        return undo_class_weights(output, class_weights) if class_weights else output

    def inputs_from(transformed: dict) -> dict:
        return {key: transformed[key] for key in input_keys}

    def model_inputs_of(raw: dict) -> dict:
        return inputs_from(model.tft_layer(raw))

    def probabilities_from(model_inputs: dict) -> tf.Tensor:
        return served(model(model_inputs, training=False))

    def probabilities_of(raw: dict) -> tf.Tensor:
        return probabilities_from(model_inputs_of(raw))

    def predict(raw: dict) -> dict:
        return served_answer(probabilities_of(raw), config)

    # The raw features the model needs, and only those: no label, and none of what
    # ingestion records beside an image (its source file, original size).
    raw_spec = tf_transform_output.raw_feature_spec()
    spec = {name: raw_spec[name] for name in raw_inputs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_default(serialized: tf.Tensor) -> dict:
        return predict(tf.io.parse_example(serialized, spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict:
        # The Transform graph runs once for the model and its baselines.
        transformed = model.tft_layer(tf.io.parse_example(serialized, spec))
        answers = served_answer(probabilities_from(inputs_from(transformed)), config)
        for name, baseline in (baselines or {}).items():
            (answers[name],) = served_answer(baseline(transformed), config).values()
        return answers

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classification(serialized: tf.Tensor) -> dict:
        scores = probabilities_of(tf.io.parse_example(serialized, spec))
        return {"classes": tf.tile(classes[tf.newaxis], [tf.shape(scores)[0], 1]), "scores": scores}

    def parsed_model_inputs(serialized: tf.Tensor) -> dict:
        return model_inputs_of(tf.io.parse_example(serialized, spec))

    signatures = {
        "serving_default": serve_default,
        "serve_examples": serve_examples if baselines else serve_default,
        CLASSIFICATION: classification,
        EXPLANATION: explain_signature(model, parsed_model_inputs, served, config),
        "transform_features": transform_features_signature(model, tf_transform_output),
    }
    name, signature = json_signature(predict, tf_transform_output, config)
    return {**signatures, name: signature}


def save_for_serving(model: tf.keras.Model, export_dir: str, signatures: dict) -> None:
    """Saves `model` with `signatures` as TF Serving reads it: a SavedModel whose
    classification signature (if any) is marked for the Classify API."""
    model.save(export_dir, save_format="tf", signatures=signatures)
    if CLASSIFICATION in signatures:
        set_method_names(export_dir, {CLASSIFICATION: CLASSIFY_METHOD})


def set_method_names(export_dir: str, method_names: dict[str, str]) -> None:
    """Marks signatures for TF Serving's Classify or Regress API (TF 2 saves every
    signature as Predict): rewrites their method names in `export_dir`'s saved_model.pb."""
    saved_model = read_saved_model(export_dir)
    for meta_graph in saved_model.meta_graphs:
        for name, method in method_names.items():
            meta_graph.signature_def[name].method_name = method
    with tf.io.gfile.GFile(_saved_model_pb(export_dir), "wb") as handle:
        handle.write(saved_model.SerializeToString())


def _saved_model_pb(export_dir: str) -> str:
    return os.path.join(export_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)


def read_saved_model(export_dir: str) -> saved_model_pb2.SavedModel:
    """The SavedModel proto (signature defs and their method names) of `export_dir`."""
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(_saved_model_pb(export_dir), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    return saved_model
