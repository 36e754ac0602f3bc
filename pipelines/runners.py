"""Runner choices: the same pipeline from `create_pipeline`, run locally, on Beam, or
compiled for Kubeflow Pipelines. Beam presets cover the DirectRunner modes that run
here and the cluster runners a user completes with their own endpoint or project."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TFX is imported where a pipeline runs, so `aet --help` stays instant
    from tfx.orchestration.pipeline import Pipeline

    from aet.config import DomainConfig

RUNNERS = ("local", "beam", "kubeflow")
DEFAULT_IMAGE = "aet:0.1.0"
# Where the Dockerfile installs the lock, so default data resolves inside the image.
IMAGE_SITE_PACKAGES = "/opt/venv/lib/python3.10/site-packages"


@dataclass(frozen=True)
class BeamPreset:
    description: str
    args: tuple[str, ...]
    required: tuple[str, ...] = ()
    defaults: tuple[tuple[str, str], ...] = ()


# Beam 2.74's DirectRunner first tries the Prism runner, which downloads its binary from
# GitHub at run time. The local presets name FnApiRunner, the runner DirectRunner falls
# back to, so nothing is fetched from the network.
#
# They also turn off Beam's construction-time type check. It checks the type hints of
# TFX's, TFDV's, TFT's and TFMA's own transforms at each `apply`, never the data, and on
# a finance run (1,000 rows, 2 cores) it took a fifth of Transform's time (34.0 s -> 26.6
# s; the run 85.5 s -> 70.8 s) for statistics, vocabularies and metrics identical to the
# digit. The cluster presets keep it: there the inferred types choose the coders of each
# shuffle. (Beam has a flag to turn it off only, so a local run cannot turn it back on.)
LOCAL_ARGS = ("--runner=FnApiRunner", "--no_pipeline_type_check")
BEAM_PRESETS: dict[str, BeamPreset] = {
    "in-process": BeamPreset(
        "Beam's local FnApiRunner inside this process (fastest on small data)",
        (*LOCAL_ARGS, "--direct_running_mode=in_memory"),
        defaults=(("direct_num_workers", "1"),),
    ),
    "multi-processing": BeamPreset(
        "Beam's local FnApiRunner across N worker processes (--beam-option direct_num_workers=N)",
        (*LOCAL_ARGS, "--direct_running_mode=multi_processing"),
        defaults=(("direct_num_workers", str(max(2, min(4, os.cpu_count() or 2)))),),
    ),
    "flink": BeamPreset(
        "Apache Flink cluster through Beam's portable FlinkRunner",
        ("--runner=FlinkRunner",),
        required=("flink_master",),
        defaults=(("environment_type", "DOCKER"),),
    ),
    "spark": BeamPreset(
        "Apache Spark cluster through Beam's portable SparkRunner",
        ("--runner=SparkRunner",),
        required=("spark_master_url",),
        defaults=(("environment_type", "DOCKER"),),
    ),
    "dataflow": BeamPreset(
        "Google Cloud Dataflow, workers running the project's container image",
        ("--runner=DataflowRunner", "--experiments=use_runner_v2"),
        required=("project", "region", "temp_location", "sdk_container_image"),
    ),
}


# Beam options whose values say how and where the pipeline runs, never who may: the
# presets' own and the common sizing ones. The value of any other option a user gives
# (a storage key, a token, a service account's file) is kept out of the run's log.
PLAIN_OPTIONS = frozenset(
    {name.split("=")[0].lstrip("-") for preset in BEAM_PRESETS.values() for name in preset.args}
    | {name for preset in BEAM_PRESETS.values() for name in preset.required}
    | {name for preset in BEAM_PRESETS.values() for name, _ in preset.defaults}
    | {"job_endpoint", "parallelism", "num_workers", "max_num_workers", "machine_type"}
    | {"worker_machine_type", "save_main_session", "streaming", "job_name"}
)
# Shorter values are not masked: they cannot be credentials, and masking a "2" would
# mask every 2 in the log.
MIN_SECRET_LENGTH = 4


def secret_values(args: Sequence[str]) -> list[str]:
    """The values among `--name=value` Beam args that the run's log must not show: those
    of every option outside PLAIN_OPTIONS."""
    secrets = []
    for arg in args:
        name, sep, value = arg.lstrip("-").partition("=")
        if sep and name not in PLAIN_OPTIONS and len(value) >= MIN_SECRET_LENGTH:
            secrets.append(value)
    return secrets


class RunnerError(ValueError):
    """A runner or preset that cannot be used as asked."""


def beam_pipeline_args(preset: str, options: dict[str, str], extra: list[str] = ()) -> list[str]:
    """The Beam args of a preset, completed by `options` (name -> value) and raw `extra`."""
    if preset not in BEAM_PRESETS:
        raise RunnerError(f"unknown Beam preset '{preset}'; choose from {sorted(BEAM_PRESETS)}")
    chosen = BEAM_PRESETS[preset]
    values = {**dict(chosen.defaults), **options}
    missing = [name for name in chosen.required if not values.get(name)]
    if missing:
        hint = " ".join(f"--beam-option {name}=..." for name in missing)
        raise RunnerError(f"Beam preset '{preset}' needs {missing}: add {hint}")
    return [*chosen.args, *(f"--{name}={value}" for name, value in values.items()), *extra]


# Beam runners whose workers are this process or its children, in this environment.
LOCAL_BEAM_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner")


def runs_on_this_machine(beam_pipeline_args: Sequence[str]) -> bool:
    """Whether Beam's workers are local (the runner Beam itself reads from the args)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(list(beam_pipeline_args)).view_as(StandardOptions).runner
    return runner is None or runner in LOCAL_BEAM_RUNNERS


@contextlib.contextmanager
def _no_tfx_package_for_local_workers(beam_pipeline_args: Sequence[str]) -> Iterator[None]:
    """TFX's Beam executors package TFX's own source as an sdist for the workers
    (`dependency_utils.make_beam_dependency_flags`) whenever Beam arguments are given
    and none names a dependency: about 2.3 s per Beam component, 9 s of a finance run,
    for workers that already run in this virtual environment. TFX offers no switch for
    it, so on a local runner the step is skipped; remote runners keep it."""
    if not runs_on_this_machine(beam_pipeline_args):
        yield
        return
    from tfx.utils import dependency_utils

    packaging = dependency_utils.make_beam_dependency_flags
    dependency_utils.make_beam_dependency_flags = list
    try:
        yield
    finally:
        dependency_utils.make_beam_dependency_flags = packaging


def run_local(pipeline: Pipeline) -> None:
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    with _no_tfx_package_for_local_workers(pipeline.beam_pipeline_args):
        LocalDagRunner().run(pipeline)


def run_beam(pipeline: Pipeline) -> None:
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    with _no_tfx_package_for_local_workers(pipeline.beam_pipeline_args):
        BeamDagRunner().run(pipeline)


def kubeflow_pipeline(
    config: DomainConfig,
    *,
    pipeline_root: str,
    data_path: str | None = None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
) -> Pipeline:
    """The domain's pipeline with the paths its containers see: default data and the
    curated schema from the image's site-packages; no MLMD file (KFP provides MLMD)."""
    from aet.config.kinds import kind_of
    from aet.pipelines.data_sources import default_data_path, schema_path
    from aet.pipelines.factory import create_pipeline, run_layout

    if kind_of(config).ingested and not data_path:
        raise RunnerError(
            f"'{config.name}' reads {config.data.format}, which its kind ingests before the "
            "pipeline: for Kubeflow, pass --data with the folder of ingested examples "
            "(Split-<name>/...) the cluster can reach"
        )

    return create_pipeline(
        config,
        data_path=data_path or os.fspath(default_data_path(config, IMAGE_SITE_PACKAGES)),
        schema_path=schema_path(config, IMAGE_SITE_PACKAGES),
        beam_pipeline_args=beam_pipeline_args,
        enable_cache=enable_cache,
        baseline_from_serving_dir=False,
        default_data=data_path is None,
        **{**run_layout(pipeline_root, config), "metadata_path": None},
    )


def compile_kubeflow(pipeline: Pipeline, output_dir: str, image: str) -> str:
    """Writes the KFP v2 pipeline JSON; returns its path. Runs nothing."""
    from tfx import v1 as tfx

    filename = f"{pipeline.pipeline_info.pipeline_name}.json"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=output_dir,
        output_filename=filename,
    )
    runner.run(pipeline, write_out=True)
    return os.path.join(output_dir, filename)
