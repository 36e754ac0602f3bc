"""The generic Transform `preprocessing_fn`: every domain is described by its config.

Numeric features are z-scored, categorical ones mapped through a vocabulary with an
out-of-vocabulary bucket, the label is mapped to the index of its class in the config,
and bucket features (e.g. an age band) are emitted as readable strings for slicing.
An image feature (encoded PNG/JPEG bytes) is decoded, resized to the configured size
and z-scored over all training pixels. An item history (recommendation) is mapped
through an item vocabulary of the training split, ordered by frequency, to ids where 0
pads and the last id is out of vocabulary, and cut to its most recent items. All
statistics come from TFT analyzers, so they are computed over the full training split by
Beam and frozen into the serving graph, which is why a served model takes the same raw
bytes the pipeline ingested.
"""

from __future__ import annotations

import itertools

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.features import LABEL_VOCABULARY, from_custom_config, transformed_name
from aet.config import BucketConfig, ImageConfig, SequenceConfig
from aet.config.example_features import HISTORY_ITEMS, TARGET_ITEM, USER_ID

NUM_OOV_BUCKETS = 1
ITEM_VOCABULARY = "items"
ITEM_COUNTS = "item_counts"  # the same items with their training-split frequencies
USER_VOCABULARY = "users"


def _dense(tensor: tf.Tensor | tf.SparseTensor, default: float | str) -> tf.Tensor:
    """A [batch, 1] dense tensor; missing values (sparse inputs) take `default`."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(
            tf.sparse.reset_shape(tensor, [tensor.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(tensor, [-1, 1])


def _as_text(tensor: tf.Tensor | tf.SparseTensor) -> tf.Tensor | tf.SparseTensor:
    """Text values; sparse stays sparse so that `_dense` can fill missing values with ''."""
    if tensor.dtype == tf.string:
        return tensor
    if isinstance(tensor, tf.SparseTensor):
        values = tf.strings.as_string(tensor.values)
        return tf.SparseTensor(tensor.indices, values, tensor.dense_shape)
    return tf.strings.as_string(tensor)


def bucket_labels(boundaries: list[float]) -> list[str]:
    """Readable names for the intervals that `boundaries` cut: ['<25', '25-35', '>=35']."""
    # Whole numbers in full (1000000, not 1e+06); others in their shortest form.
    edges = [f"{b:.0f}" if float(b).is_integer() else f"{b:g}" for b in boundaries]
    inner = [f"{low}-{high}" for low, high in itertools.pairwise(edges)]
    return [f"<{edges[0]}", *inner, f">={edges[-1]}"]


def _bucketize(values: tf.Tensor, bucket: BucketConfig) -> tf.Tensor:
    index = tft.apply_buckets(values, tf.constant([bucket.boundaries], tf.float32))
    return tf.gather(tf.constant(bucket_labels(bucket.boundaries)), index)


def image_pixels(encoded: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    """[batch] encoded PNG/JPEG -> [batch, height, width, channels] floats in [0, 1].

    Colour images become grey (or grey ones RGB) to match `channels`; downscaling is
    antialiased, so a 1000-pixel X-ray does not alias into noise at 28 pixels.
    """
    size = (image.height, image.width)

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        decoded = tf.io.decode_image(data, channels=image.channels, expand_animations=False)
        pixels = tf.image.convert_image_dtype(decoded, tf.float32)
        return tf.image.resize(pixels, size, antialias=True)

    return tf.map_fn(
        decode_one,
        encoded,
        fn_output_signature=tf.TensorSpec((*size, image.channels), tf.float32),
    )


def _normalised_image(encoded: tf.Tensor, image: ImageConfig) -> tf.Tensor:
    pixels = image_pixels(tf.reshape(encoded, [-1]), image)
    mean = tft.mean(pixels)
    return (pixels - mean) / tf.sqrt(tft.var(pixels) + 1e-12)


def _sequence_features(inputs: dict, sequence: SequenceConfig) -> dict:
    """Item ids of each history's `max_length` most recent items, left-aligned and padded
    with 0 (so a causal model's real positions never see padding), the target's id, and
    the user's index. Items are counted over histories and targets of the training split:
    every training interaction once, none of the held-out targets."""
    history = inputs[HISTORY_ITEMS]
    target = tf.reshape(_dense(inputs[TARGET_ITEM], ""), [-1])
    interactions = tf.concat([history.values, target], axis=0)
    vocabulary = tft.vocabulary(interactions, vocab_filename=ITEM_VOCABULARY)
    tft.vocabulary(interactions, vocab_filename=ITEM_COUNTS, store_frequency=True)

    def item_ids(items: tf.Tensor) -> tf.Tensor:
        return tft.apply_vocabulary(items, vocabulary, num_oov_buckets=NUM_OOV_BUCKETS) + 1

    history_ids = tf.RaggedTensor.from_sparse(
        tf.SparseTensor(history.indices, item_ids(history.values), history.dense_shape)
    )
    recent = history_ids[:, -sequence.max_length :]
    return {
        transformed_name(HISTORY_ITEMS): recent.to_tensor(
            default_value=0, shape=[None, sequence.max_length]
        ),
        transformed_name(TARGET_ITEM): item_ids(target),
        transformed_name(USER_ID): tft.compute_and_apply_vocabulary(
            _dense(inputs[USER_ID], ""),
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=USER_VOCABULARY,
        ),
    }


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    config = from_custom_config(custom_config)
    features = config.features
    if features.sequence is not None:
        return _sequence_features(inputs, features.sequence)
    outputs = {}
    numeric_values = {}
    for name in features.numeric:
        values = tf.cast(_dense(inputs[name], 0), tf.float32)
        numeric_values[name] = values
        outputs[transformed_name(name)] = tft.scale_to_z_score(values)
    for name in features.categorical:
        outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
            _dense(_as_text(inputs[name]), ""),
            num_oov_buckets=NUM_OOV_BUCKETS,
            vocab_filename=name,
        )
    for bucket in features.buckets:
        outputs[bucket.name] = _bucketize(numeric_values[bucket.source], bucket)
    if features.image is not None:
        outputs[transformed_name(features.image.name)] = _normalised_image(
            _dense(inputs[features.image.name], ""), features.image
        )

    label_text = _dense(_as_text(inputs[features.label.name]), "")
    classes = tf.constant(features.label.classes)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            classes, tf.range(len(features.label.classes), dtype=tf.int64)
        ),
        default_value=-1,
    )
    outputs[transformed_name(features.label.name)] = table.lookup(label_text)
    # Class frequencies over the training split, read by the Trainer for class weights.
    tft.vocabulary(label_text, vocab_filename=LABEL_VOCABULARY, store_frequency=True)
    return outputs
