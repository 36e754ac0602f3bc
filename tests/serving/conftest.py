"""Fixtures for the serving tests: a finance_risk SavedModel exported from the session's
Transform run, and toy models with the image and recommendation serving interfaces."""

from __future__ import annotations

import pytest

from tests.exported_model import shared_exported_model


@pytest.fixture(scope="session")
def serving_model_dir(transform_run, tmp_path_factory) -> str:
    """A finance_risk SavedModel exported as the Trainer exports it (version folder 1)."""
    return shared_exported_model(transform_run, tmp_path_factory)[1]


def export_toy_ranking_model(path: str) -> str:
    """A SavedModel with a recommender's serving interface (`history_items` and
    `exclude_items` in; `items` [batch, 3] strings, `scores` float, `unknown_items` int32,
    `fallback` bool out) computing something trivial and exact: the first 3 history items,
    their lengths / 8 (exact in float32), the count of excluded ids (so a test sees
    `exclude` arrive) and whether the history is empty. For the string, int and bool
    outputs no tabular model has, without training a recommender."""
    import tensorflow as tf

    from aet.config.contract import EXCLUDE_ITEMS, HISTORY_ITEMS

    class ToyRecommender(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, serialized: tf.Tensor) -> dict:
            items = tf.io.RaggedFeature(tf.string)
            parsed = tf.io.parse_example(serialized, {HISTORY_ITEMS: items, EXCLUDE_ITEMS: items})
            history = parsed[HISTORY_ITEMS]
            top = history.to_tensor(b"", shape=[None, 3])
            return {
                "items": top,
                "scores": tf.cast(tf.strings.length(top), tf.float32) / 8.0,
                "unknown_items": tf.cast(parsed[EXCLUDE_ITEMS].row_lengths(), tf.int32),
                "fallback": history.row_lengths() == 0,
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def explain(self, serialized: tf.Tensor) -> dict:
            """serve's answer; each item's reasons: the history's first item, then ''."""
            answer = self.serve(serialized)
            shown = answer["items"] != b""
            empty = tf.fill(tf.shape(shown), b"")
            first = tf.where(shown, answer["items"][:, :1], empty)
            return {
                **answer,
                "because": tf.stack([first, empty], axis=-1),
                "contributions": tf.stack(
                    [tf.where(shown, 0.5, 0.0), tf.zeros_like(answer["scores"])], axis=-1
                ),
            }

    module = ToyRecommender()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve, "explain": module.explain}
    )
    return path


TOY_HEAT_MAP = [[0.0, 0.5], [1.0, 0.25]]  # what the toy image model's `explain` returns


def export_toy_image_model(path: str, image_feature: str, classes: list[str]) -> str:
    """A SavedModel with an image domain's serving interface: `probability` is the mean
    grey level / 256 (exact in float32) of the encoded image under `image_feature`;
    `explain` adds the class of the higher probability and TOY_HEAT_MAP."""
    import tensorflow as tf

    def brightness(encoded: tf.Tensor) -> tf.Tensor:
        pixels = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        return tf.reduce_mean(tf.cast(pixels, tf.float32)) / 256.0

    class ToyImageModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, serialized: tf.Tensor) -> dict:
            spec = {image_feature: tf.io.FixedLenFeature([], tf.string)}
            encoded = tf.io.parse_example(serialized, spec)[image_feature]
            return {"probability": tf.map_fn(brightness, encoded, fn_output_signature=tf.float32)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def explain(self, serialized: tf.Tensor) -> dict:
            probability = self.serve(serialized)["probability"]
            batch = tf.shape(probability)[0]
            return {
                "probability": probability,
                "explained_class": tf.gather(
                    tf.constant(classes), tf.cast(probability > 0.5, tf.int32)
                ),
                "heat_map": tf.tile(tf.constant([TOY_HEAT_MAP]), [batch, 1, 1]),
            }

    module = ToyImageModel()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve, "explain": module.explain}
    )
    return path


@pytest.fixture(scope="session")
def toy_ranking_model_dir(tmp_path_factory) -> str:
    return export_toy_ranking_model(str(tmp_path_factory.mktemp("toy_ranking") / "1"))
