"""What the classifier kinds (tabular rows, images) share: a label of named classes,
class-weighted training, probabilities served through Predict and TF Serving's Classify
API, and TFMA metrics on the label.

A subclass says how it reads and transforms its inputs (`input_features`), how it builds
each architecture it offers (`network`) and which JSON-friendly signature it adds
(`json_signature`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from aet.config.contract import CLASSIFICATION, EXPLANATION
from aet.kinds.base import DataKind, ExportContext, KindConfigError, PipelineParts

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    import tensorflow_transform as tft

    from aet.components.warm_start import EmbeddingRows
    from aet.config import DomainConfig


class ClassifierKind(DataKind):
    """A kind whose examples carry a label of `features.label.classes`."""

    # The outputs `baselines` adds to `serve_examples`, scored beside the model.
    baseline_outputs: ClassVar[tuple[str, ...]] = ()

    def check_config(self, config: DomainConfig) -> None:
        if config.features.sequence is not None:
            raise KindConfigError(
                "features.sequence",
                f"is for interaction logs; data.format '{config.data.format}' reads no "
                "item histories",
            )
        for index, rule in enumerate(config.data.label_rules):
            if rule.label not in config.features.label.classes:
                raise KindConfigError(
                    f"data.label_rules.{index}.label",
                    f"'{rule.label}' is not one of features.label.classes "
                    f"{config.features.label.classes}",
                )

    def describe_label(self, config: DomainConfig) -> str:
        label = config.features.label
        return f"label '{label.name}' with classes {label.classes}"

    # --- transform ----------------------------------------------------------------
    def label_key(self, config: DomainConfig) -> str:
        from aet.components.features import transformed_name

        return transformed_name(config.features.label.name)

    def preprocessing(self, inputs: dict, config: DomainConfig) -> dict:
        from aet.components.preprocessing import class_index

        outputs = self.input_features(inputs, config)
        outputs[self.label_key(config)] = class_index(inputs, config.features.label)
        return outputs

    def input_features(self, inputs: dict, config: DomainConfig) -> dict:
        """Transform's outputs other than the label."""
        raise NotImplementedError

    # --- training -----------------------------------------------------------------
    def build_model(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        from aet.components.compiling import adamw

        model = self.network(config, tf_transform_output)
        self.compile(model, config, adamw(config))
        return model

    def compile(
        self, model: tf.keras.Model, config: DomainConfig, optimizer: tf.keras.optimizers.Optimizer
    ) -> None:
        from aet.components.compiling import compile_classifier

        compile_classifier(model, config, optimizer)

    def embedding_vocabularies(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> dict[str, EmbeddingRows]:
        """Each categorical feature's embedding, named after it, indexes its vocabulary."""
        from aet.components.warm_start import EmbeddingRows

        return {
            f"{name}_emb": EmbeddingRows(tf_transform_output.vocabulary_file_by_name(name))
            for name in config.features.categorical
        }

    def network(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        """The uncompiled network of `config.model.architecture`."""
        raise NotImplementedError

    def signatures(
        self,
        model: tf.keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
        context: ExportContext,
    ) -> dict:
        from aet.components.export.signatures import classifier_signatures

        return classifier_signatures(
            model,
            tf_transform_output,
            config,
            self.model_inputs(config),
            self.json_signature,
            self.explain_signature,
            class_weights=context.class_weights,
            baselines=self.baselines(config, tf_transform_output, context),
        )

    def baselines(
        self,
        config: DomainConfig,
        tf_transform_output: tft.TFTransformOutput,
        context: ExportContext,
    ) -> dict:
        """The baselines fitted beside the model, by output name (none by default)."""
        return {}

    def json_signature(
        self,
        predict: Callable[[dict], dict],
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
    ) -> tuple[str, Any]:
        """(name, concrete function) of the signature a REST client writes by hand,
        answering as `predict` does on the parsed raw features."""
        raise NotImplementedError

    def explain_signature(
        self,
        model: tf.keras.Model,
        model_inputs: Callable[[tf.Tensor], dict],
        served: Callable[[tf.Tensor], tf.Tensor],
        config: DomainConfig,
    ) -> Any:
        """The `explain` signature: serialized raw examples -> `serving_default`'s answer
        and its explanation; `model_inputs` parses and transforms them, `served` turns
        the model's output into the probabilities clients get."""
        raise NotImplementedError

    # --- evaluation ---------------------------------------------------------------
    def eval_config(self, config: DomainConfig) -> tfma.EvalConfig:
        from aet.components.evaluation import classifier_eval_config

        return classifier_eval_config(config, self.label_key(config), self.baseline_outputs)

    def extra_components(self, config: DomainConfig, parts: PipelineParts) -> list:
        """The Explanations component (the served explanations' global view)."""
        if not config.evaluation.explained_examples:
            return []
        from aet.components.explanations.component import Explanations

        return [
            Explanations(
                model=parts.trainer.outputs["model"],
                examples=parts.example_gen.outputs["examples"],
                domain_config=config.json(),
                split=parts.split,
                count=config.evaluation.explained_examples,
            )
        ]

    # --- serving ------------------------------------------------------------------
    # What `explain` returns beside serving_default's answer and the class explained.
    explanation_outputs: ClassVar[frozenset[str]]

    def expected_outputs(self, config: DomainConfig, signature: str) -> set[str]:
        if signature == CLASSIFICATION:
            return {"classes", "scores"}
        answer = {"probability"} if config.is_binary else {"probabilities"}
        if signature == EXPLANATION:
            return answer | {"explained_class"} | self.explanation_outputs
        return answer

    def output_problems(
        self, config: DomainConfig, signature: str, outputs: dict[str, np.ndarray]
    ) -> list[str]:
        classes = config.features.label.classes
        problems = []
        if signature == CLASSIFICATION:
            served = [[c.decode() for c in row] for row in outputs["classes"]]
            if any(row != classes for row in served):
                problems.append(f"'classes' are not {classes}")
        for name in {"probability", "probabilities", "scores"} & set(outputs):
            problems += _probability_problems(name, outputs[name], len(classes))
        if signature == EXPLANATION:
            if not {c.decode() for c in outputs["explained_class"]} <= set(classes):
                problems.append(f"'explained_class' holds values outside {classes}")
            problems += self.explanation_problems(config, outputs)
        return problems

    def explanation_problems(self, config: DomainConfig, outputs: dict[str, np.ndarray]) -> list:
        """What is wrong with `explain`'s explanation (its answer is checked already)."""
        raise NotImplementedError

    def comparable(self, config: DomainConfig, signature: str, outputs: dict) -> dict:
        if signature == EXPLANATION:
            return {name: outputs[name] for name in self.expected_outputs(config, "")}
        if signature != CLASSIFICATION:
            return outputs
        from aet.components.export.signatures import served_answer

        return served_answer(outputs["scores"], config)


def explained_probability(config: DomainConfig, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """[batch] the served probability of each row's `explained_class` in an `explain`
    answer (a binary label's negative class gets 1 - probability)."""
    import numpy as np

    classes = config.features.label.classes
    index = np.array([classes.index(name.decode()) for name in outputs["explained_class"]])
    if config.is_binary:
        return np.where(index == 1, outputs["probability"], 1.0 - outputs["probability"])
    return outputs["probabilities"][np.arange(len(index)), index]


def _probability_problems(name: str, values: np.ndarray, classes: int) -> list[str]:
    import numpy as np

    problems = []
    if np.any((values < 0) | (values > 1)):
        problems.append(f"'{name}' has values outside [0, 1]")
    if values.ndim == 2:
        if values.shape[1] != classes:
            problems.append(f"'{name}' has {values.shape[1]} columns for {classes} classes")
        elif not np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
            problems.append(f"'{name}' rows do not sum to 1")
    return problems
