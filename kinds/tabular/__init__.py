"""Tabular rows in CSV or Parquet files: numeric and categorical features and a label.

A new tabular domain is a config file and nothing else. Pre-flight checks every CSV
row, or every Parquet file's types and values (preflight.py); CsvExampleGen reads and
splits CSV files, FileBasedExampleGen with a Parquet executor (parquet.py) Parquet
files; Transform z-scores
numbers and maps categories through vocabularies (transform.py); the model is an
FT-Transformer or, as a plain baseline, logistic regression on the same transformed
features; `predict_features` takes one named input per feature (signatures.py);
clients send CSV or JSON-lines records typed by the domain's schema (requests.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aet.config.contract import TABULAR_BASELINES
from aet.config.kinds import register_kind
from aet.kinds.base import Encoder, KindConfigError, PreparedInput
from aet.kinds.classifier import ClassifierKind

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    from tfx.dsl.components.base.base_component import BaseComponent

    from aet.components.spans import SpanInput
    from aet.config import DomainConfig
    from aet.kinds.base import ExportContext
    from aet.report.run_record import RunRecord
    from aet.report.sections import Section
    from aet.serving.requests import PredictionInput


class TabularKind(ClassifierKind):
    name = "csv"
    description = "CSV or Parquet files of numeric and categorical features and a label"
    architectures = ("ft_transformer", "logistic_regression", "wide_and_deep")
    baseline_outputs = TABULAR_BASELINES  # kinds/tabular/baselines.py

    def check_config(self, config: DomainConfig) -> None:
        super().check_config(config)
        features = config.features
        if features.image is not None:
            raise KindConfigError(
                "features.image",
                f"is for image data; data.format '{config.data.format}' reads table rows",
            )
        if not features.input_names:
            raise KindConfigError("features", "give at least one numeric or categorical feature")
        classes, model = len(features.label.classes), config.model
        if model.architecture == "wide_and_deep" and classes > 2 and model.embedding_dim < classes:
            raise KindConfigError(
                "model.embedding_dim",
                f"wide_and_deep starts each category's token as its {classes} class scores: "
                f"give at least {classes}",
            )

    def describe(self, config: DomainConfig) -> str:
        features = config.features
        return (
            f"{len(features.numeric)} numeric and {len(features.categorical)} categorical "
            f"features, {self.describe_label(config)}"
        )

    # --- data ---------------------------------------------------------------------
    def check_data_path(self, config: DomainConfig, path: Path) -> None:
        from aet.kinds.tabular.preflight import TABLE_SUFFIXES, table_files

        if path.is_file() and path.suffix not in TABLE_SUFFIXES:  # read as a folder otherwise
            raise ValueError(
                f"{path}: not a .csv or .parquet file; give such a file or a folder of them"
            )
        if path.is_dir():
            table_files(str(path))

    def prepare_input(
        self, config: DomainConfig, data_path: str, output: Path, beam_args: Sequence[str]
    ) -> PreparedInput:
        if "://" in data_path:
            return PreparedInput(["input: remote, not pre-checked"], data_path)
        from aet.kinds.tabular.preflight import check_table_input

        suffix, rows = check_table_input(data_path, config)
        return PreparedInput([f"input checked: {rows} rows ({suffix[1:]})"], data_path)

    def example_gen(
        self, config: DomainConfig, data_path: str, span: SpanInput | None = None
    ) -> BaseComponent:
        from tfx.components import CsvExampleGen, FileBasedExampleGen
        from tfx.dsl.components.base import executor_spec
        from tfx.proto import example_gen_pb2

        from aet.components.spans import example_input
        from aet.kinds.tabular.parquet import SUFFIX, ParquetExecutor
        from aet.kinds.tabular.preflight import table_suffix

        buckets = [
            example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=round(share * 100))
            for name, share in config.data.splits.items()
        ]
        suffix = table_suffix(data_path)
        if span is not None:
            input_base, pattern = span.root, f"*{suffix}"
        elif data_path.endswith(suffix):
            input_base, pattern = os.path.dirname(data_path), os.path.basename(data_path)
        else:
            input_base, pattern = data_path, f"*{suffix}"
        input_config, range_config = example_input({"all": pattern}, span)
        arguments = {
            "input_base": input_base,
            "input_config": input_config,
            "output_config": example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(splits=buckets)
            ),
            "range_config": range_config,
        }
        if suffix == SUFFIX:
            return FileBasedExampleGen(
                **arguments, custom_executor_spec=executor_spec.BeamExecutorSpec(ParquetExecutor)
            ).with_id("ParquetExampleGen")
        return CsvExampleGen(**arguments)

    def drift_features(self, config: DomainConfig) -> dict[str, str]:
        """Every input column, and the label: a new span's mix of classes is drift too."""
        features = config.features
        kinds = {name: "numeric" for name in features.numeric}
        kinds.update({name: "categorical" for name in features.categorical})
        kinds[features.label.name] = "categorical"
        return kinds

    # --- transform ----------------------------------------------------------------
    def model_inputs(self, config: DomainConfig) -> list[str]:
        return config.features.input_names

    def input_features(self, inputs: dict, config: DomainConfig) -> dict:
        from aet.kinds.tabular.transform import tabular_features

        return tabular_features(inputs, config.features)

    # --- training -----------------------------------------------------------------
    def network(
        self, config: DomainConfig, tf_transform_output: tft.TFTransformOutput
    ) -> tf.keras.Model:
        from aet.kinds.tabular.networks import NETWORKS

        return NETWORKS[config.model.architecture](config, tf_transform_output)

    def initialise(
        self,
        model: tf.keras.Model,
        config: DomainConfig,
        tf_transform_output: tft.TFTransformOutput,
        fn_args: Any,
        class_weights: dict[int, float] | None,
    ) -> str | None:
        """A wide-and-deep model starts as logistic regression fitted on the training
        split with the training's class weights (components/models/wide_and_deep.py)."""
        if config.model.architecture != "wide_and_deep":
            return None
        import numpy as np

        from aet.components.models.wide_and_deep import start_from_linear
        from aet.kinds.tabular.baselines import fit_logistic_regression, training_matrix
        from aet.kinds.tabular.networks import tabular_inputs

        inputs = tabular_inputs(config, tf_transform_output)
        matrix, labels = training_matrix(
            fn_args, tf_transform_output, inputs, self.label_key(config)
        )
        classes = len(config.features.label.classes)
        if len(np.unique(labels)) < classes:  # a class the rows read lack: no full fit
            return None
        fitted = fit_logistic_regression(matrix, labels, class_weights)
        start_from_linear(model, inputs, fitted.coef_, fitted.intercept_)
        return f"the wide path starts as logistic regression fitted on {len(labels)} training rows"

    def baselines(
        self,
        config: DomainConfig,
        tf_transform_output: tft.TFTransformOutput,
        context: ExportContext,
    ) -> dict:
        """Logistic regression and boosted trees on the transformed training split."""
        from aet.kinds.tabular.baselines import fit_baselines, training_matrix
        from aet.kinds.tabular.networks import tabular_inputs

        inputs = tabular_inputs(config, tf_transform_output)
        matrix, labels = training_matrix(
            context.fn_args, tf_transform_output, inputs, self.label_key(config)
        )
        classes = len(config.features.label.classes)
        return fit_baselines(matrix, labels, inputs, classes, config.training.seed)

    def json_signature(
        self,
        predict: Callable[[dict], dict],
        tf_transform_output: tft.TFTransformOutput,
        config: DomainConfig,
    ) -> tuple[str, Any]:
        from aet.kinds.tabular.signatures import predict_features

        return "predict_features", predict_features(predict, tf_transform_output, config)

    def explain_signature(
        self,
        model: tf.keras.Model,
        model_inputs: Callable[[tf.Tensor], dict],
        served: Callable[[tf.Tensor], tf.Tensor],
        config: DomainConfig,
    ) -> Any:
        from aet.kinds.tabular.explanations import explain_signature

        return explain_signature(model, model_inputs, served, config)

    # --- evaluation ---------------------------------------------------------------
    def report_sections(self, record: RunRecord) -> list[Section]:
        from aet.kinds.tabular.report import explanation_section

        return explanation_section(record)

    def summarise_explanations(
        self, config: DomainConfig, records: list[bytes], outputs: dict, folder: str
    ) -> dict:
        from aet.kinds.tabular.explanations import feature_importance

        return feature_importance(config, outputs)

    # --- serving ------------------------------------------------------------------
    explanation_outputs = frozenset({"attributions", "baseline_probability", "features"})

    def explanation_problems(self, config: DomainConfig, outputs: dict[str, np.ndarray]) -> list:
        from aet.kinds.tabular.explanations import completeness_problems

        return completeness_problems(config, outputs)

    def synthetic_examples(self, config: DomainConfig, examples: list[bytes], seed: int) -> list:
        from aet.kinds.tabular.synthetic import synthetic_examples

        return synthetic_examples(config, examples, seed)

    def warmup_inputs(
        self, config: DomainConfig, signatures: Mapping[str, Any]
    ) -> tuple[str, Callable[[list[bytes]], dict[str, np.ndarray]]]:
        from aet.components.export.warmup import first_values

        _, specs = signatures["predict_features"].structured_input_signature
        return "predict_features", lambda examples: {
            name: first_values(examples, name, specs[name].dtype)
            for name in self.model_inputs(config)
        }

    # --- clients ------------------------------------------------------------------
    def request_encoder(self, config: DomainConfig) -> Encoder:
        from aet.kinds.tabular.requests import tabular_encoder

        return tabular_encoder(config)

    def read_input(self, config: DomainConfig, path: Path) -> PredictionInput:
        from aet.kinds.tabular.requests import read_tabular_input

        return read_tabular_input(config, path)

    def explained(
        self, config: DomainConfig, request: PredictionInput, outputs: dict, folder: Path
    ) -> list[dict]:
        from aet.kinds.tabular.reasons import reason_codes

        return reason_codes(config, request.examples, outputs)


TABULAR = register_kind(TabularKind())
