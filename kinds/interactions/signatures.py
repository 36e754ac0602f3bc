"""Signatures exported with a recommender.

- `serving_default` (what TF Serving's Predict API calls, and what the warm-up requests
  and `serving.client` send): serialized tf.Examples holding `history_items`, a user's
  recent item ids oldest first, and optionally `exclude_items`, ids not to recommend
  (e.g. the history itself). Returns the `serving.top_k` best `items` with their
  `scores`, how many history ids the model did not know (`unknown_items`: dropped, not
  a failure) and `fallback`: true where no known item was left and the answer is the
  most popular items.
- `explain`: serving_default's examples -> its answer, and for each recommended item
  the history items that raised its score most (`because`, [batch, top_k, reasons]
  names, '' where fewer did) with their `contributions` (kinds/interactions/explanations.py).
- `recommend`: the same, JSON-friendly for REST `instances`: `history` and `exclude`,
  [batch, n] strings padded with '' (TF Serving batches rectangular tensors).
- `serve_examples`: the ingested tf.Examples (TFMA). Returns the full score vectors of
  the model (`scores`) and of the two baselines (`most_popular`, `co_occurrence`), with
  the history's items excluded when `evaluation.exclude_seen`, so the Evaluator ranks
  all three the same way.
- `transform_features`: the Transform graph alone (TFMA reads the target's id there).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from aet.components.export.signatures import transform_features_signature
from aet.components.features import transformed_name
from aet.components.models.sasrec import SequentialRecommender, history_lengths, mask_items
from aet.components.ranking_metrics import MASKED_SCORE
from aet.config import DomainConfig
from aet.config.contract import EXCLUDE_ITEMS, EXPLANATION, HISTORY_ITEMS, RECOMMENDER_OUTPUT
from aet.kinds.interactions.baselines import (
    Baselines,
    baseline_scores,
    most_popular_scores,
)
from aet.kinds.interactions.explanations import HistoryExplainer, top_reasons
from aet.kinds.interactions.transform import ITEM_VOCABULARY


class ItemCatalogue(tf.Module):
    """Item id strings <-> the model's ids (0: padding or '', last: unknown)."""

    def __init__(self, vocabulary: list[bytes]) -> None:
        super().__init__()
        self.unknown_id = len(vocabulary) + 1
        self.names = tf.constant([b"", *vocabulary, b""])
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary), tf.range(1, len(vocabulary) + 1, dtype=tf.int64)
            ),
            default_value=self.unknown_id,
        )

    def ids(self, items: tf.RaggedTensor) -> tf.RaggedTensor:
        """Ids of `items`, with '' dropped and unknown items as `unknown_id`."""
        items = tf.ragged.boolean_mask(items, items != "")
        return tf.ragged.map_flat_values(self.table.lookup, items)


def make_ranking_signatures(
    model: SequentialRecommender,
    tf_transform_output: tft.TFTransformOutput,
    config: DomainConfig,
    baselines: Baselines,
) -> dict:
    model.tft_layer = tf_transform_output.transform_features_layer()
    model.catalogue = catalogue = ItemCatalogue(
        tf_transform_output.vocabulary_by_name(ITEM_VOCABULARY)
    )
    exclude_seen = config.evaluation.exclude_seen

    def known_history(items: tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The model's input for `items` ('' and unknown items dropped), the ids of all
        known items (0-padded), and how many were unknown."""
        ids = catalogue.ids(items)
        is_known = ids != catalogue.unknown_id
        known_ids = tf.ragged.boolean_mask(ids, is_known)
        known = tf.ragged.map_flat_values(tf.gather, catalogue.names, known_ids)
        transformed = model.tft_layer({HISTORY_ITEMS: known.to_sparse()})
        history = tf.cast(transformed[transformed_name(HISTORY_ITEMS)], tf.int64)
        unknown = tf.reduce_sum(tf.cast(tf.logical_not(is_known), tf.int32), axis=1)
        return history, known_ids.to_tensor(0), unknown

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict:
        parsed = tf.io.parse_example(serialized, {HISTORY_ITEMS: tf.io.RaggedFeature(tf.string)})
        history, seen, _ = known_history(parsed[HISTORY_ITEMS])
        excluded = seen if exclude_seen else None
        scores = {
            RECOMMENDER_OUTPUT: model.item_scores(history),
            **baseline_scores(history, baselines),
        }
        return {name: mask_items(values, excluded) for name, values in scores.items()}

    def ranked(history_items: tf.RaggedTensor, exclude: tf.RaggedTensor) -> tuple:
        """(the model's history ids, the best ids, what the client-facing signatures
        return) from ragged item-id strings."""
        history, _, unknown = known_history(history_items)
        fallback = history_lengths(history) == 0
        popular = most_popular_scores(tf.shape(history)[0], baselines)
        scores = tf.where(fallback[:, tf.newaxis], popular, model.item_scores(history))
        scores = mask_items(scores, catalogue.ids(exclude).to_tensor(0))
        best = tf.math.top_k(scores, k=tf.minimum(config.serving.top_k, tf.shape(scores)[1]))
        real = best.values > MASKED_SCORE / 2
        answer = {
            "items": tf.where(real, tf.gather(catalogue.names, best.indices), b""),
            "scores": tf.where(real, best.values, 0.0),
            "unknown_items": unknown,
            "fallback": fallback,
        }
        return history, best.indices, answer

    def top_items(history_items: tf.RaggedTensor, exclude: tf.RaggedTensor) -> dict:
        return ranked(history_items, exclude)[2]

    def parsed_examples(serialized: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        items = tf.io.RaggedFeature(tf.string)
        parsed = tf.io.parse_example(serialized, {HISTORY_ITEMS: items, EXCLUDE_ITEMS: items})
        return parsed[HISTORY_ITEMS], parsed[EXCLUDE_ITEMS]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def recommend_examples(serialized: tf.Tensor) -> dict:
        return top_items(*parsed_examples(serialized))

    explainer = HistoryExplainer(model)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def explain(serialized: tf.Tensor) -> dict:
        history, best, answer = ranked(*parsed_examples(serialized))
        contributions = explainer.contributions(history, tf.cast(best, tf.int64))
        because, weights = top_reasons(
            contributions, history, catalogue.names, config.serving.reasons
        )
        shown = answer["items"] != b""  # no reasons for a slot left empty
        return {
            **answer,
            "because": tf.where(shown[..., tf.newaxis], because, b""),
            "contributions": tf.where(shown[..., tf.newaxis], weights, 0.0),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.string, name="history"),
            tf.TensorSpec([None, None], tf.string, name="exclude"),
        ]
    )
    def recommend(history_items: tf.Tensor, exclude: tf.Tensor) -> dict:
        return top_items(
            tf.RaggedTensor.from_tensor(history_items), tf.RaggedTensor.from_tensor(exclude)
        )

    return {
        "serving_default": recommend_examples,
        "recommend": recommend,
        EXPLANATION: explain,
        "serve_examples": serve_examples,
        "transform_features": transform_features_signature(model, tf_transform_output),
    }
