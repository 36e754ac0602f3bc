"""The protocol every data kind implements: what differs between tabular rows, images
and interaction logs, asked by the generic code instead of branching on the data.

A kind is one folder under `kinds/` with a `DataKind` subclass that registers itself
(`aet.config.kinds.register_kind`) for the `data.format` it reads. The generic code
asks it, at each step of a run:

- config: `check_config` (the features and architecture it needs), `architectures`,
  `describe` (the line `aet validate-config` prints);
- data: `check_data_path`, `prepare_input` (pre-flight checks, or a plug-in's
  ingestion before the pipeline), `example_gen` (the pipeline's first component, which
  may ingest: kinds/ingested.py), `ingestion_lines` (what `aet run` prints of it);
- transform: `preprocessing` (its part of Transform's preprocessing_fn),
  `model_inputs`, `label_key`;
- training: `build_model`, `initialise` (weights from the training split before a
  new model trains), `compile`, `training_pairs`, `uses_class_weights`,
  `embedding_vocabularies` (what a warm start remaps), `signatures` (a classifier's
  also answer its `baselines`, kinds/classifier.py);
- evaluation: `eval_config`, `extra_components` (e.g. Grad-CAM heat maps);
- report: `report_sections` (what only this kind shows in the run report);
- serving: `warmup_inputs`, `serves_classify`, `expected_outputs`,
  `output_problems`, `comparable` (what the serving check expects), and for clients
  `request_encoder`, `read_input` and `explained` (an `explain` answer, readable);
  the `explain` signature itself is built with the others in `signatures`.

Drift: `drift_features`, what a new span's distributions are compared on.

The kind's class is imported whenever a config is validated and by the serving
client, so it imports its heavy parts (TensorFlow, TFX, models) inside its methods:
`aet validate-config` and a client load no training code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aet.config.contract import RecordEncoder as Encoder
from aet.config.kinds import KindConfigError

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

__all__ = [
    "DataKind",
    "Encoder",
    "ExportContext",
    "KindConfigError",
    "PipelineParts",
    "PreparedInput",
]


@dataclass(frozen=True)
class PreparedInput:
    """What `aet run` does with the data before the pipeline: the lines it prints, the
    path the pipeline's ExampleGen reads, and the ingestion report (if it ingested)."""

    lines: list[str]
    pipeline_input: str
    report: dict | None = None


@dataclass(frozen=True)
class ExportContext:
    """What the Trainer knows when it exports: its inputs and the class weights it
    trained with (undone in the served probabilities)."""

    fn_args: Any  # tfx.components.FnArgs
    class_weights: dict[int, float] | None = None


@dataclass(frozen=True)
class PipelineParts:
    """The components a kind may add after the Trainer (e.g. heat maps), with what they
    read."""

    example_gen: BaseComponent
    transform: BaseComponent
    trainer: BaseComponent
    split: str


class DataKind:
    """One kind of data. Subclasses set `name` (the `data.format` they read),
    `architectures` (model.architecture values, the default first) and implement the
    methods below; defaults here are what most kinds share."""

    name: ClassVar[str]
    description: ClassVar[str]
    architectures: ClassVar[tuple[str, ...]]
    # A plug-in kind may write its examples before the pipeline (`prepare_input`) and
    # read them with kinds/ingested.ingested_example_gen; none of the shipped kinds does.
    ingested: ClassVar[bool] = False

    # --- config -------------------------------------------------------------------
    def check_config(self, config: DomainConfig) -> None:
        """Raises KindConfigError when the config's features or model do not fit."""

    def describe(self, config: DomainConfig) -> str:
        """What the domain reads, in a few words (`aet validate-config`)."""
        raise NotImplementedError

    # --- data ---------------------------------------------------------------------
    def check_data_path(self, config: DomainConfig, path: Path) -> None:
        """Raises ValueError naming the path when it is not data of this kind."""

    def prepare_input(
        self, config: DomainConfig, data_path: str, output: Path, beam_args: Sequence[str]
    ) -> PreparedInput:
        """Pre-flight checks or ingestion before any component runs."""
        raise NotImplementedError

    def ingestion_lines(self, report: dict) -> list[str]:
        """What `aet run` prints of the ingestion report an ExampleGen of this kind wrote
        into its Examples (none by default)."""
        return []

    def example_gen(
        self, config: DomainConfig, data_path: str, span: SpanInput | None = None
    ) -> BaseComponent:
        """The pipeline's ExampleGen over `data_path` (what prepare_input returned), or
        with `span` over that span of the output's spans (components/spans.py), each
        split's files under the span's folder as they are under `data_path`."""
        raise NotImplementedError

    def drift_features(self, config: DomainConfig) -> dict[str, str]:
        """The features whose distribution a new span is compared on, each 'numeric' or
        'categorical' (TFDV's Jensen-Shannon divergence or L-infinity distance); none by
        default."""
        return {}

    # --- transform ----------------------------------------------------------------
    def preprocessing(self, inputs: dict, config: DomainConfig) -> dict:
        """Transform's outputs for this kind: model inputs, the label, slice features."""
        raise NotImplementedError

    def model_inputs(self, config: DomainConfig) -> list[str]:
        """The raw features a served model reads."""
        raise NotImplementedError

    def label_key(self, config: DomainConfig) -> str:
        """The transformed feature the model learns to predict."""
        raise NotImplementedError

    # --- training -----------------------------------------------------------------
    def build_model(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        """The compiled model of `config.model.architecture`."""
        raise NotImplementedError

    def initialise(
        self,
        model: tf.keras.Model,
        config: DomainConfig,
        tf_transform_output: tft.TFTransformOutput,
        fn_args: Any,
        class_weights: dict[int, float] | None,
    ) -> str | None:
        """Sets the new model's weights from the training split before it trains (not
        when it warm-starts or resumes); says how, or None where nothing is set."""
        return None

    def compile(
        self, model: tf.keras.Model, config: DomainConfig, optimizer: tf.keras.optimizers.Optimizer
    ) -> None:
        """Compiles `model` with `optimizer` (again, when a warm start unfreezes in stages
        with one optimizer per layer group)."""
        raise NotImplementedError

    def embedding_vocabularies(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> dict[str, EmbeddingRows]:
        """The embedding layers whose rows follow a vocabulary, by layer name: a warm
        start remaps them row by row (components/warm_start.py)."""
        return {}

    def training_pairs(self, dataset: tf.data.Dataset, config: DomainConfig) -> tf.data.Dataset:
        """(inputs, target) as the model learns them; the label as it is by default."""
        return dataset

    uses_class_weights: ClassVar[bool] = True

    def signatures(
        self,
        model: tf.keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
        context: ExportContext,
    ) -> dict:
        """The serving signatures exported with the model."""
        raise NotImplementedError

    # --- evaluation ---------------------------------------------------------------
    def eval_config(self, config: DomainConfig) -> tfma.EvalConfig:
        """The Evaluator's metrics, slices and thresholds for this kind's models."""
        raise NotImplementedError

    def extra_components(self, config: DomainConfig, parts: PipelineParts) -> list:
        """Components this kind adds beside the Evaluator (none by default)."""
        return []

    def summarise_explanations(
        self, config: DomainConfig, records: list[bytes], outputs: dict, folder: str
    ) -> dict:
        """The global view of `explain`'s answers (`outputs`) to held-out raw `records`,
        JSON-friendly (the Explanations component); images it draws go under `folder`."""
        return {}

    # --- report -------------------------------------------------------------------
    def report_sections(self, record: RunRecord) -> list[Section]:
        """Sections of the run report that only this kind has (none by default)."""
        return []

    # --- serving ------------------------------------------------------------------
    serves_classify: ClassVar[bool] = True  # TF Serving's Classify API (classifiers)

    def synthetic_examples(self, config: DomainConfig, examples: list[bytes], seed: int) -> list:
        """As many serialized examples as `examples`, as a client would send them, shaped
        like them field by field but none of their rows: the serving check and the
        warm-up requests use these, so no row of the data ships inside a model."""
        raise NotImplementedError(
            f"the data kind {type(self).__name__} does not make synthetic examples "
            "(DataKind.synthetic_examples), which the serving check and the warm-up need"
        )

    def warmup_inputs(
        self, config: DomainConfig, signatures: Mapping[str, Any]
    ) -> tuple[str, Callable[[list[bytes]], dict[str, np.ndarray]]]:
        """The JSON-friendly signature and how to fill its inputs from raw examples."""
        raise NotImplementedError

    def output_problems(
        self, config: DomainConfig, signature: str, outputs: dict[str, np.ndarray]
    ) -> list[str]:
        """What is wrong with one signature's answer (names and shapes already hold)."""
        raise NotImplementedError

    def expected_outputs(self, config: DomainConfig, signature: str) -> set[str]:
        raise NotImplementedError

    def comparable(self, config: DomainConfig, signature: str, outputs: dict) -> dict:
        """A signature's answer in `serving_default`'s terms, for the agreement check."""
        return outputs

    # --- clients ------------------------------------------------------------------
    def request_encoder(self, config: DomainConfig) -> Encoder:
        """Turns one record (a mapping) into the serialized tf.Example serving_default
        parses; raises aet.serving.examples.RecordError naming the field."""
        raise NotImplementedError

    def read_input(self, config: DomainConfig, path: Path) -> PredictionInput:
        """Every record in `path` (`aet predict --input`, which exists), encoded and
        checked before anything is sent; raises RequestError naming file and line."""
        raise NotImplementedError

    def explained(
        self, config: DomainConfig, request: PredictionInput, outputs: dict, folder: Path
    ) -> list[dict]:
        """One JSON-friendly record per request example of what the `explain` signature
        answered (`aet predict --explain`); files it draws go under `folder`."""
        raise NotImplementedError
