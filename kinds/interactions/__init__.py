"""Interaction logs: (user, item, rating, time) rows, turned into each user's item
history and the item that followed it; the model recommends the next item.

The log is checked row by row before the pipeline (input.py), then turned into
per-user, leave-last-out history examples inside it by InteractionsExampleGen
(example_gen.py, over histories.py's Beam transforms); Transform maps items through a vocabulary of
the training split (transform.py); the model is SASRec, scored by the Evaluator beside
two baselines fitted in the Trainer (baselines.py, evaluation.py); `recommend` takes
padded item-id lists (signatures.py); clients send JSON lines of histories (requests.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aet.config.kinds import register_kind
from aet.kinds.base import DataKind, Encoder, ExportContext, KindConfigError, PreparedInput

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    import tensorflow_transform as tft
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput
    from aet.components.warm_start import EmbeddingRows
    from aet.config import DomainConfig
    from aet.report.run_record import RunRecord
    from aet.report.sections import Section
    from aet.serving.requests import PredictionInput

RANKING_OUTPUTS = {"items", "scores", "unknown_items", "fallback"}
EXPLAINED = {"because", "contributions"}  # `explain`: the history items behind each item


class InteractionsKind(DataKind):
    name = "interactions"
    description = "a log of (user, item, rating, time), .inter/.tsv or .csv"
    architectures = ("sasrec",)
    uses_class_weights = False
    serves_classify = False

    def report_sections(self, record: RunRecord) -> list[Section]:
        from aet.kinds.interactions.report import interaction_sections

        return interaction_sections(record)

    def check_config(self, config: DomainConfig) -> None:
        if config.features.sequence is None:
            raise KindConfigError(
                "features.sequence",
                "must be set when data.format is 'interactions': the most recent items a "
                "history keeps",
            )
        if config.data.label_rules:
            raise KindConfigError(
                "data.label_rules", "name image classes; an interaction log has no label"
            )

    def describe(self, config: DomainConfig) -> str:
        return f"item histories of up to {config.features.sequence.max_length} recent items"

    # --- data ---------------------------------------------------------------------
    def check_data_path(self, config: DomainConfig, path: Path) -> None:
        from aet.kinds.interactions.input import log_file

        log_file(path)

    def prepare_input(
        self, config: DomainConfig, data_path: str, output: Path, beam_args: Sequence[str]
    ) -> PreparedInput:
        """Reads every row once (a bad one is named now, not inside Beam); the pipeline
        reads the log file itself, also when given the folder holding it."""
        from aet.kinds.interactions.input import check_log

        if "://" in data_path:
            return PreparedInput(["input: remote, not pre-checked"], data_path)
        log, rows = check_log(config, Path(data_path))
        return PreparedInput([f"input checked: {rows} interactions ({log.name})"], str(log))

    def ingestion_lines(self, report: dict) -> list[str]:
        return [
            "histories:",
            f"  {report['interactions']} interactions, {report['catalogue']} items in training",
            "  users per split: " + ", ".join(f"{s} {n}" for s, n in report["users"].items()),
            f"  {report['skipped_users']} user(s) skipped: fewer interactions than the minimum",
        ]

    def example_gen(
        self, config: DomainConfig, data_path: str, span: SpanInput | None = None
    ) -> BaseComponent:
        from aet.kinds.interactions.example_gen import interactions_example_gen

        return interactions_example_gen(config, data_path, span)

    # --- transform ----------------------------------------------------------------
    def model_inputs(self, config: DomainConfig) -> list[str]:
        from aet.config.contract import HISTORY_ITEMS

        return [HISTORY_ITEMS]

    def label_key(self, config: DomainConfig) -> str:
        from aet.components.features import transformed_name
        from aet.config.contract import TARGET_ITEM

        return transformed_name(TARGET_ITEM)

    def preprocessing(self, inputs: dict, config: DomainConfig) -> dict:
        from aet.kinds.interactions.transform import sequence_features

        return sequence_features(inputs, config.features.sequence)

    # --- training -----------------------------------------------------------------
    def build_model(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        from aet.components.compiling import adamw
        from aet.components.features import transformed_name
        from aet.components.models.sasrec import build_sasrec
        from aet.components.preprocessing import NUM_OOV_BUCKETS
        from aet.config.contract import HISTORY_ITEMS
        from aet.kinds.interactions.transform import ITEM_VOCABULARY

        model = build_sasrec(
            config.model,
            tf_transform_output.vocabulary_size_by_name(ITEM_VOCABULARY) + 1 + NUM_OOV_BUCKETS,
            config.features.sequence.max_length,
            transformed_name(HISTORY_ITEMS),
            sampled_softmax=config.training.sampled_softmax,
            cutoff=config.evaluation.cutoff,
            exclude_seen=config.evaluation.exclude_seen,
        )
        self.compile(model, config, adamw(config))
        return model

    def compile(
        self, model: tf.keras.Model, config: DomainConfig, optimizer: tf.keras.optimizers.Optimizer
    ) -> None:
        """The sequential recommender computes its own loss and ranking metrics."""
        model.compile(optimizer=optimizer)

    def embedding_vocabularies(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> dict[str, EmbeddingRows]:
        """The item embedding: row 0 is padding, then the items in vocabulary order (the
        out-of-vocabulary row last), so a known item keeps its trained row across runs
        whose vocabularies differ, and a new item starts fresh."""
        from aet.components.models.sasrec import ITEM_EMBEDDING
        from aet.components.warm_start import EmbeddingRows
        from aet.kinds.interactions.transform import ITEM_VOCABULARY

        vocabulary = tf_transform_output.vocabulary_file_by_name(ITEM_VOCABULARY)
        return {ITEM_EMBEDDING: EmbeddingRows(vocabulary, leading=1)}

    def training_pairs(self, dataset: tf.data.Dataset, config: DomainConfig) -> tf.data.Dataset:
        """Every position learns the item after it."""
        from aet.components.features import transformed_name
        from aet.components.models.sasrec import next_item_labels
        from aet.config.contract import HISTORY_ITEMS

        history = transformed_name(HISTORY_ITEMS)
        return dataset.map(lambda x, target: (x, next_item_labels(x[history], target)))

    def signatures(
        self,
        model: tf.keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
        context: ExportContext,
    ) -> dict:
        from aet.kinds.interactions.baselines import fit_baselines, training_sequences
        from aet.kinds.interactions.signatures import make_ranking_signatures

        sequences = training_sequences(context.fn_args, tf_transform_output, self.label_key(config))
        baselines = fit_baselines(tf_transform_output, sequences)
        return make_ranking_signatures(model, tf_transform_output, config, baselines)

    # --- evaluation ---------------------------------------------------------------
    def eval_config(self, config: DomainConfig) -> tfma.EvalConfig:
        from aet.kinds.interactions.evaluation import ranking_eval_config

        return ranking_eval_config(config, self.label_key(config))

    # --- serving ------------------------------------------------------------------
    def expected_outputs(self, config: DomainConfig, signature: str) -> set[str]:
        from aet.config.contract import EXPLANATION

        return RANKING_OUTPUTS | EXPLAINED if signature == EXPLANATION else RANKING_OUTPUTS

    def comparable(self, config: DomainConfig, signature: str, outputs: dict) -> dict:
        return {name: outputs[name] for name in RANKING_OUTPUTS}

    def output_problems(
        self, config: DomainConfig, signature: str, outputs: dict[str, np.ndarray]
    ) -> list[str]:
        problems = []
        if outputs["items"].shape[1] > config.serving.top_k:
            problems.append(f"'items' lists more than serving.top_k={config.serving.top_k}")
        if (outputs["unknown_items"] < 0).any():
            problems.append("'unknown_items' is negative")
        because = outputs.get("because")
        if because is not None and (
            because.shape[:2] != outputs["items"].shape or because.shape[2] > config.serving.reasons
        ):
            problems.append(
                f"'because' has shape {because.shape}, not [batch, items, at most "
                f"serving.reasons={config.serving.reasons}]"
            )
        return problems

    def synthetic_examples(self, config: DomainConfig, examples: list[bytes], seed: int) -> list:
        from aet.kinds.interactions.synthetic import synthetic_examples

        return synthetic_examples(config, examples, seed)

    def warmup_inputs(
        self, config: DomainConfig, signatures: Mapping[str, Any]
    ) -> tuple[str, Callable[[list[bytes]], dict[str, np.ndarray]]]:
        import numpy as np

        from aet.components.export.warmup import padded_values
        from aet.config.contract import HISTORY_ITEMS

        # Nothing excluded, as in the held-out examples serving_default is sent.
        return "recommend", lambda examples: {
            "history": padded_values(examples, HISTORY_ITEMS),
            "exclude": np.full((len(examples), 1), b"", dtype=object),
        }

    # --- clients ------------------------------------------------------------------
    def request_encoder(self, config: DomainConfig) -> Encoder:
        from aet.kinds.interactions.requests import history_example

        return history_example

    def read_input(self, config: DomainConfig, path: Path) -> PredictionInput:
        from aet.kinds.interactions.requests import read_history_input

        return read_history_input(config, path)

    def explained(
        self, config: DomainConfig, request: PredictionInput, outputs: dict, folder: Path
    ) -> list[dict]:
        from aet.kinds.interactions.reasons import recommendation_reasons

        return recommendation_reasons(outputs)


INTERACTIONS = register_kind(InteractionsKind())
