"""Why a tabular model answered as it did: an attribution per raw feature by integrated
gradients (components/integrated_gradients.py), and, for the FT-Transformer, the
attention its CLS token pays to each feature token, which the faithfulness benchmark
sets against the attributions.

The path runs over each feature's first representation inside the network: a numeric
feature's z-scored value and a categorical feature's embedding row. Both architectures
read features this way (the FT-Transformer's numeric token is linear in the value, so
integrating over the value is integrating over the token), and so an attribution
belongs to one raw feature, whatever mixes them afterwards.

The baseline is the training split's typical row: every number at its training mean
(0 once z-scored) and every category at its most frequent value (id 0: TFT orders a
vocabulary by frequency). An attribution is then how far a feature's value moved the
probability away from that of a typical row, and the attributions add up to
probability - baseline probability.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from aet.components.attention import last_block_attention
from aet.components.export.signatures import served_answer
from aet.components.features import transformed_name
from aet.components.integrated_gradients import integrated_gradients
from aet.config import DomainConfig
from aet.kinds.classifier import explained_probability

# (the model's output [batch, units]) -> one score per example [batch]
Score = Callable[[tf.Tensor], tf.Tensor]
# How far, on average over a request, the attributions may fall from summing to the
# probability's change before the serving check fails the model: 64 steps stay well
# within it on the shipped model (0.004 on average, 0.034 at most:
# benchmarks/results/explanation_faithfulness.md); a broken explanation does not.
COMPLETENESS_TOLERANCE = 0.05


class TabularExplainer:
    """The attributions and CLS attention of one tabular Keras model, feature by
    feature: the numeric features, then the categorical ones (`input_names`' order)."""

    def __init__(self, model: tf.keras.Model, numeric: list[str], categorical: list[str]) -> None:
        self.model = model
        self.features = [*numeric, *categorical]
        self.categorical = set(categorical)
        representations = [
            model.get_layer(
                f"{name}_emb" if name in self.categorical else transformed_name(name)
            ).output
            for name in self.features
        ]
        # Keras builds a model from intermediate tensors by cloning the graph after them.
        self.to_representations = tf.keras.Model(model.input, representations)
        self.from_representations = tf.keras.Model(representations, model.output)

    def baselines(self, representations: list[tf.Tensor]) -> list[tf.Tensor]:
        """The typical row's representations, shaped like `representations`."""
        baselines = []
        for name, value in zip(self.features, representations, strict=True):
            if name in self.categorical:
                most_frequent = tf.zeros(tf.shape(value)[:2], tf.int64)
                baselines.append(self.model.get_layer(f"{name}_emb")(most_frequent))
            else:
                baselines.append(tf.zeros_like(value))
        return baselines

    def attributions(
        self, inputs: dict[str, tf.Tensor], score: Score, steps: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """([batch, features] attributions of `score`, [batch] score of the baseline)."""
        representations = self.to_representations(inputs, training=False)
        baselines = self.baselines(representations)
        per_feature = integrated_gradients(
            lambda path: score(self.from_representations(path, training=False)),
            representations,
            baselines,
            steps,
        )
        baseline_score = score(self.from_representations(baselines, training=False))
        return tf.stack(per_feature, axis=1), baseline_score

    def cls_attention(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """[batch, features]: how much the CLS token of the last transformer block attends
        to each feature's token, averaged over heads (the FT-Transformer's token order is
        the numeric features, then the categorical ones, as `input_names`)."""
        scores = last_block_attention(self.model, inputs)
        return tf.reduce_mean(scores[:, :, 0, 1:], axis=1)


def explain_signature(
    model: tf.keras.Model,
    model_inputs: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    served: Callable[[tf.Tensor], tf.Tensor],
    config: DomainConfig,
):
    """`explain`: serialized raw examples (as serving_default takes them) -> the served
    probabilities, the class explained (the positive one of a binary label, else the
    predicted one), each feature's attribution to that class's probability, the
    baseline row's probability and the feature names, in one order."""
    features = config.features
    explainer = TabularExplainer(model, features.numeric, features.categorical)
    classes = tf.constant(config.features.label.classes)
    names = tf.constant(features.input_names)
    steps = config.serving.explanation_steps
    binary = config.is_binary

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def explain(serialized: tf.Tensor) -> dict:
        inputs = model_inputs(serialized)
        probabilities = served(model(inputs, training=False))
        batch = tf.shape(probabilities)[0]
        explained = tf.ones([batch], tf.int64) if binary else tf.argmax(probabilities, axis=-1)

        def score(output: tf.Tensor) -> tf.Tensor:
            # The path holds `steps` copies of the batch, one after another.
            index = tf.tile(explained, [tf.shape(output)[0] // batch])
            return tf.gather(served(output), index, axis=1, batch_dims=1)

        attributions, baseline = explainer.attributions(inputs, score, steps)
        return {
            **served_answer(probabilities, config),
            "explained_class": tf.gather(classes, explained),
            "attributions": attributions,
            "baseline_probability": baseline,
            "features": tf.tile(names[tf.newaxis], [batch, 1]),
        }

    return explain


def completeness_gaps(config: DomainConfig, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """[batch] |sum of attributions - (probability - baseline probability)|."""
    change = explained_probability(config, outputs) - outputs["baseline_probability"]
    return np.abs(outputs["attributions"].sum(axis=1) - change)


def completeness_problems(config: DomainConfig, outputs: dict[str, np.ndarray]) -> list[str]:
    """The serving check's test of `explain`: names in order, attributions that add up."""
    problems = []
    names = [[name.decode() for name in row] for row in outputs["features"]]
    if any(row != config.features.input_names for row in names):
        problems.append(f"'features' are not {config.features.input_names}")
    gap = float(completeness_gaps(config, outputs).mean())
    if gap > COMPLETENESS_TOLERANCE:
        problems.append(
            f"'attributions' do not add up to the probability's change from the baseline "
            f"(off by {gap:.3f} on average, over {COMPLETENESS_TOLERANCE}; more "
            "serving.explanation_steps bring them closer)"
        )
    return problems


def feature_importance(config: DomainConfig, outputs: dict[str, np.ndarray]) -> dict:
    """The global view of a tabular model's `explain` answers: per feature, the mean
    absolute attribution (how much it moves answers, either way) and the mean signed
    one, largest first; and how closely the attributions added up."""
    attributions = outputs["attributions"]
    gaps = completeness_gaps(config, outputs)
    features = [
        {
            "feature": name,
            "mean_abs_attribution": round(float(np.abs(attributions[:, index]).mean()), 5),
            "mean_attribution": round(float(attributions[:, index].mean()), 5),
        }
        for index, name in enumerate(config.features.input_names)
    ]
    return {
        "method": "integrated gradients",
        "explained_class": outputs["explained_class"][0].decode() if config.is_binary else None,
        "steps": config.serving.explanation_steps,
        "features": sorted(features, key=lambda f: -f["mean_abs_attribution"]),
        "baseline_probability": round(float(outputs["baseline_probability"].mean()), 5),
        "completeness_gap": {
            "mean": round(float(gaps.mean()), 5),
            "max": round(float(gaps.max()), 5),
        },
    }
