"""The one pipeline factory: every domain and every runner builds its pipeline here.

ExampleGen (one span) -> StatisticsGen -> SchemaGen | ImportSchemaGen ->
ExampleValidator -> AnomaliesGate -> [DriftValidator against the previous span (and
the served model's training span, where older) -> DriftGate] -> Transform (over the
window of spans) -> [Tuner] -> Trainer (warm-started from the served model on a new
span) -> Evaluator (the new span's test split, against the served version, else the
latest blessed model) -> ServingCheck (loads and answers as TF Serving would) ->
Pusher -> ServerConfigWriter (models.config, batching file).

The domain's data kind (kinds/) gives what differs: its ExampleGen (CsvExampleGen over
CSV files, ParquetExampleGen over Parquet, ImageExampleGen reading image files,
InteractionsExampleGen turning an interaction log into per-user histories), its
Evaluator config (a recommender is scored beside its two baselines) and the components
it adds beside the Evaluator (HeatMaps of Grad-CAM overlays for images). The latest
blessed model is also the Trainer's base model when the config warm-starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

# Not `tfx.v1`, which imports every TFX extension (AI Platform, Kubeflow) at each start.
from tfx.components import (
    ExampleValidator,
    ImportExampleGen,
    Pusher,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

from aet.components.anomalies_gate.component import AnomaliesGate
from aet.components.drift.component import DriftValidator
from aet.components.drift.gate import DriftGate
from aet.components.drift.validation import (
    COMPARED_SPLITS,
    DRIFT_REFERENCES,
    SERVING_SPLIT,
    SKEW_SPLITS,
    validator_config,
    validator_id,
)
from aet.components.evaluation import build_eval_config, custom_eval_shared_model
from aet.components.evaluator import Evaluator
from aet.components.features import to_custom_config
from aet.components.preprocessing import preprocessing_fn
from aet.components.pusher import executor as pusher_executor
from aet.components.pusher.executor import newest_version
from aet.components.served_baseline.component import ServedBaseline
from aet.components.server_config_writer.component import ServerConfigWriter
from aet.components.serving_check.component import ServingCheck
from aet.components.spans import SpanInput, SpanStrategy
from aet.components.trainer import run_fn
from aet.components.tuning import tuner_fn
from aet.config import DomainConfig
from aet.config.kinds import kind_of
from aet.kinds.base import PipelineParts
from aet.pipelines.data_sources import schema_path as local_schema_path
from aet.serving.request_log import LOG_PATTERN


def dotted_path(fn: Callable) -> str:
    """The import path TFX executors load `fn` from; derived, so a rename fails at import."""
    return f"{fn.__module__}.{fn.__name__}"


def pipeline_name(config: DomainConfig) -> str:
    return "aet-" + config.name.replace("_", "-")


def evaluation_split(config: DomainConfig) -> str:
    """The held-out split the Evaluator scores: 'test' when the config has one."""
    return "test" if "test" in config.data.splits else "eval"


def _hyperparameters(
    config: DomainConfig, transform: BaseComponent, schema_gen: BaseComponent
) -> tuple[list[BaseComponent], Channel | None]:
    """Where the Trainer's hyperparameters come from, and the components that provide
    them: the Tuner when tuning is on, the latest tuned ones when the config reuses
    them, otherwise none (the config's own)."""
    tuning = config.tuning
    if tuning.enabled:
        tuner = Tuner(
            tuner_fn=dotted_path(tuner_fn),
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=trainer_pb2.TrainArgs(splits=["train"]),
            eval_args=trainer_pb2.EvalArgs(splits=["eval"], num_steps=config.training.eval_steps),
            custom_config=to_custom_config(config),
        )
        return [tuner], tuner.outputs["best_hyperparameters"]
    if tuning.reuse_last:
        resolver = Resolver(
            strategy_class=LatestArtifactStrategy,
            hyperparameters=Channel(type=standard_artifacts.HyperParameters),
        ).with_id("latest_tuned_hyperparameters_resolver")
        return [resolver], resolver.outputs["hyperparameters"]
    return [], None


def _baseline_model(
    config: DomainConfig, serving_dir: str, blessed: Resolver, *, read_serving_dir: bool
) -> tuple[list[BaseComponent], Channel | None]:
    """What the Evaluator judges the new model against, and the component giving it:
    the newest version served from `serving_dir` whichever output folder pushed it (read
    now, when the pipeline is built to run at once), else the latest model blessed in
    this output. A pipeline compiled to run later (Kubeflow) is not tied to the version
    served when it was compiled: it takes the blessed model, and the Pusher refuses a
    model judged against anything but what is served when it pushes."""
    if config.evaluation.baseline == "none":
        return [], None
    served = newest_version(serving_dir) if read_serving_dir else None
    if served is None:
        return [], blessed.outputs["model"]
    baseline = ServedBaseline(version_dir=served).with_id("served_baseline")
    return [baseline], baseline.outputs["baseline"]


def _training_examples(
    config: DomainConfig, example_gen: BaseComponent, span: SpanInput | None
) -> tuple[list[BaseComponent], Channel]:
    """What Transform and the Trainer read: the new span, or with `data.window` > 1 the
    newest artifact of each span in the window ending at it (from earlier runs' MLMD)."""
    window = config.data.window
    if span is None or window == 1:
        return [], example_gen.outputs["examples"]
    resolver = Resolver(
        strategy_class=SpanStrategy,
        config={"first": span.number - window + 1, "last": span.number},
        examples=Channel(type=standard_artifacts.Examples, producer_component_id=example_gen.id),
    ).with_id("span_window_resolver")
    resolver.add_upstream_node(example_gen)
    return [resolver], resolver.outputs["examples"]


def _drift_check(
    config: DomainConfig,
    statistics_gen: BaseComponent,
    span: SpanInput | None,
    served_span: int | None,
) -> list[BaseComponent]:
    """The new span's statistics against the previous span's, and against the newest
    span the served model trained on (`served_span`) where that is older (the span
    before was stopped or not pushed): DriftValidator, TFX's DistributionValidator. With
    `drift.policy: stop`, the gate that stops a drifted run before Transform. None for
    the first span, or for a kind with no drift features."""
    features = kind_of(config).drift_features(config)
    if span is None or span.number <= 1 or not features:
        return []
    previous, served = DRIFT_REFERENCES
    references = {previous: (0, span.number - 1)}
    if served_span is not None and served_span < span.number - 1:
        references[served] = (served_span, served_span)
    components, anomalies = [], {}
    for reference, (first, last) in references.items():
        statistics = Resolver(
            strategy_class=SpanStrategy,
            config={"first": first, "last": last, "most": 1},
            statistics=Channel(
                type=standard_artifacts.ExampleStatistics,
                producer_component_id=statistics_gen.id,
            ),
        ).with_id(f"{reference}_statistics_resolver")
        validator = DriftValidator(
            statistics=statistics_gen.outputs["statistics"],
            baseline_statistics=statistics.outputs["statistics"],
            config=validator_config(config, features),
            include_split_pairs=[COMPARED_SPLITS],
        ).with_id(validator_id(reference))
        components += [statistics, validator]
        anomalies[reference] = validator.outputs["anomalies"]
    if config.drift.policy == "stop":
        gate = DriftGate(
            anomalies=anomalies[previous],
            training_anomalies=anomalies.get(served),
            span=span.number,
        )
        components.append(gate)
    return components


def _skew_check(
    config: DomainConfig, statistics_gen: BaseComponent, serving_requests: str | None
) -> list[BaseComponent]:
    """The requests a client logged (`serving_requests`, serving/request_log.py) read
    by ImportExampleGen, their statistics, and DriftValidator comparing them
    with the training split's: the serving-skew check, on the drift features a request
    carries: not the label, nor what ingestion measures (an image's brightness)."""
    kind = kind_of(config)
    carried = set(kind.model_inputs(config))
    features = {n: k for n, k in kind.drift_features(config).items() if n in carried}
    if not serving_requests or not features:
        return []
    requests = ImportExampleGen(
        input_base=serving_requests,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="all", pattern=LOG_PATTERN)]
        ),
        # One split: ExampleGen would otherwise hash one input into train and eval.
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=SERVING_SPLIT, hash_buckets=1)]
            )
        ),
    ).with_id("serving_requests_example_gen")
    statistics = StatisticsGen(examples=requests.outputs["examples"]).with_id(
        "serving_requests_statistics_gen"
    )
    validator = DriftValidator(
        statistics=statistics.outputs["statistics"],
        baseline_statistics=statistics_gen.outputs["statistics"],
        config=validator_config(config, features),
        include_split_pairs=[SKEW_SPLITS],
    ).with_id("serving_skew_validator")
    return [requests, statistics, validator]


def _base_model(
    config: DomainConfig,
    new_span: bool,
    served: list[BaseComponent],
    baseline: Channel | None,
    blessed: Resolver,
) -> Channel | None:
    """The model the Trainer starts from, if any: on a new span (`new_span`), the
    served version; with `warm_start: always`, the served version, else the latest
    blessed model (none on a first run); none with `warm_start: never`."""
    setting = config.training.warm_start
    if setting == "never":
        return None
    if setting == "always":
        return baseline or blessed.outputs["model"]
    return served[0].outputs["baseline"] if new_span and served else None


def create_pipeline(
    config: DomainConfig,
    *,
    data_path: str,
    schema_path: str | None = None,
    pipeline_root: str,
    serving_dir: str,
    metadata_path: str | None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
    baseline_from_serving_dir: bool = True,
    default_data: bool = False,
    span: SpanInput | None = None,
    new_span: bool = False,
    served_span: int | None = None,
    serving_requests: str | None = None,
) -> Pipeline:
    """The full TFX pipeline for one domain.

    `data_path` is what the kind's ExampleGen reads: a table file or folder, a folder of
    images or an `.npz`, an interaction log (or a plug-in kind's folder of examples,
    ingested by its `prepare_input`).

    `schema_path` overrides where the schema is read from: the config's curated one
    inside a container image, say, or an output's frozen schema
    (pipelines/frozen_schema.py); `metadata_path` is the MLMD SQLite file (None where the
    orchestrator provides MLMD, as Kubeflow does); `serving_dir` receives `<version>/`
    SavedModels from the Pusher; `baseline_from_serving_dir` is False for a pipeline
    compiled to run later, which does not read it now (`_baseline_model`);
    `default_data` says the data is the config's own, which the model card names.

    `span` reads the data as that span of the output's spans (pipelines/spans.py): the
    run trains on the window of spans ending at it and checks it for drift against the
    span before; a `new_span` (newer than every span the output ran before, after the
    first) warm-starts from the served model where the config says so. `served_span`
    is the newest span the served model trained on, a second drift reference.
    `serving_requests` is a folder of requests a client logged, compared with the
    training data for serving skew.
    """
    kind = kind_of(config)
    example_gen = kind.example_gen(config, data_path, span)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_file = schema_path if schema_path is not None else local_schema_path(config)
    if schema_file:
        schema_gen = ImportSchemaGen(schema_file=schema_file)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    drift_check = _drift_check(config, statistics_gen, span, served_span)
    skew_check = _skew_check(config, statistics_gen, serving_requests)
    window, training_examples = _training_examples(config, example_gen, span)
    custom_config = to_custom_config(config)
    transform = Transform(
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=dotted_path(preprocessing_fn),
        custom_config=custom_config,
        splits_config=transform_pb2.SplitsConfig(
            analyze=["train"], transform=list(config.data.splits)
        ),
        disable_statistics=True,  # StatisticsGen already profiles the raw data
        # A TF1 transform graph: the same transformed values (a finance run's metrics were
        # identical to the digit), and measured on finance_risk (2 cores) Transform took
        # 42 s instead of 57, the Trainer 22 instead of 28, the Evaluator 11.5 instead of
        # 15, the serving check 3.4 instead of 6.2, and the served p99 fell by a third:
        # a tf.function-traced graph is slower to trace, load and call.
        force_tf_compat_v1=True,
    )
    transform.add_upstream_node(anomalies_gate)
    for check in drift_check:
        transform.add_upstream_node(check)
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    served_baseline, baseline = _baseline_model(
        config, serving_dir, baseline_resolver, read_serving_dir=baseline_from_serving_dir
    )
    tuning, hyperparameters = _hyperparameters(config, transform, schema_gen)
    trainer = Trainer(
        run_fn=dotted_path(run_fn),
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(splits=["train"], num_steps=config.training.train_steps),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"], num_steps=config.training.eval_steps),
        custom_config=to_custom_config(config, resume_root=os.path.join(pipeline_root, "resume")),
        base_model=_base_model(config, new_span, served_baseline, baseline, baseline_resolver),
        hyperparameters=hyperparameters,
    )
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline,
        eval_config=build_eval_config(config),
        example_splits=[evaluation_split(config)],
        module_path=custom_eval_shared_model.__module__,
    )
    beside_evaluator = kind.extra_components(
        config,
        PipelineParts(example_gen, transform, trainer, split=evaluation_split(config)),
    )
    # The model card carries the explanations' global view, where the kind computes one.
    explained = [c.outputs["explanations"] for c in beside_evaluator if "explanations" in c.outputs]
    serving_check = ServingCheck(
        explanations=explained[0] if explained else None,
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        statistics=statistics_gen.outputs["statistics"],
        model_run=trainer.outputs["model_run"],
        domain_config=config.json(),
        split="eval",
        evaluated_split=evaluation_split(config),
        default_data=int(default_data),
    )
    # The model comes from the check's blessing: the one staged with its warm-up requests.
    pusher = Pusher(
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_check.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)
        ),
        custom_executor_spec=executor_spec.ExecutorClassSpec(pusher_executor.Executor),
        custom_config={pusher_executor.REPLACE_SERVED: config.evaluation.baseline == "none"},
    )
    server_configs = ServerConfigWriter(
        pushed_model=pusher.outputs["pushed_model"],
        domain_config=config.json(),
        serving_root=os.path.dirname(serving_dir.rstrip("/")),
    )
    return Pipeline(
        pipeline_name=pipeline_name(config),
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            anomalies_gate,
            *drift_check,
            *skew_check,
            *window,
            transform,
            baseline_resolver,
            *served_baseline,
            *tuning,
            trainer,
            evaluator,
            *beside_evaluator,
            serving_check,
            pusher,
            server_configs,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=(
            metadata.sqlite_metadata_connection_config(metadata_path) if metadata_path else None
        ),
        beam_pipeline_args=list(beam_pipeline_args),
    )


def run_layout(
    root: str | Path, config: DomainConfig, serving_root: str | Path | None = None
) -> dict[str, str]:
    """Where a run keeps its artifacts and metadata under one root, and where it pushes
    models: `<serving_root>/<model name>/<version>/` (default `<root>/serving`; domains
    that share a serving root share one models.config)."""
    root = str(root)
    return {
        "pipeline_root": os.path.join(root, "tfx"),
        "metadata_path": os.path.join(root, "metadata.sqlite"),
        "serving_dir": os.path.join(
            str(serving_root or os.path.join(root, "serving")), config.serving.model_name
        ),
    }
