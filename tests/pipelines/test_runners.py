"""Beam presets: the local ones run on FnApiRunner (nothing fetched from the network) and
can be tuned; cluster ones refuse to start until the user names their cluster."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    TypeOptions,
)

from aet.pipelines.runners import BEAM_PRESETS, RunnerError, beam_pipeline_args


def _options(args: list[str]) -> PipelineOptions:
    """What Beam itself makes of the args (the last of a repeated flag wins)."""
    return PipelineOptions(args)


def test_in_process_preset_runs_fn_api_runner_in_memory() -> None:
    options = _options(beam_pipeline_args("in-process", {}))

    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert options.view_as(DirectOptions).direct_num_workers == 1


def test_multi_processing_preset_runs_several_local_workers() -> None:
    args = beam_pipeline_args("multi-processing", {})
    options = _options(args)

    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert 2 <= options.view_as(DirectOptions).direct_num_workers <= 4
    assert sum(arg.startswith("--direct_num_workers=") for arg in args) == 1


@pytest.mark.parametrize("preset", ["in-process", "multi-processing"])
def test_local_presets_never_name_a_runner_that_downloads(preset: str) -> None:
    runners = [arg for arg in beam_pipeline_args(preset, {}) if arg.startswith("--runner=")]
    assert runners == ["--runner=FnApiRunner"]  # not DirectRunner: it would try Prism first


@pytest.mark.parametrize("preset", ["in-process", "multi-processing"])
def test_local_presets_skip_the_construction_time_type_check(preset: str) -> None:
    assert not _options(beam_pipeline_args(preset, {})).view_as(TypeOptions).pipeline_type_check


@pytest.mark.parametrize("preset", ["flink", "spark", "dataflow"])
def test_cluster_presets_keep_the_type_check(preset: str) -> None:
    options = {name: "x" for name in BEAM_PRESETS[preset].required}
    assert _options(beam_pipeline_args(preset, options)).view_as(TypeOptions).pipeline_type_check


def test_defaults_and_options_are_overridable() -> None:
    args = beam_pipeline_args("multi-processing", {"direct_num_workers": "7"})

    assert "--direct_num_workers=7" in args
    assert sum(arg.startswith("--direct_num_workers=") for arg in args) == 1
    assert _options(args).view_as(DirectOptions).direct_num_workers == 7
    in_process = _options(beam_pipeline_args("in-process", {"direct_num_workers": "3"}))
    assert in_process.view_as(DirectOptions).direct_num_workers == 3


def test_extra_args_are_appended_verbatim() -> None:
    args = beam_pipeline_args("in-process", {}, ["--save_main_session", "--job_name=x"])
    assert args[-2:] == ["--save_main_session", "--job_name=x"]


@pytest.mark.parametrize(
    ("preset", "required", "runner"),
    [
        ("flink", ["flink_master"], "FlinkRunner"),
        ("spark", ["spark_master_url"], "SparkRunner"),
        (
            "dataflow",
            ["project", "region", "temp_location", "sdk_container_image"],
            "DataflowRunner",
        ),
    ],
)
def test_cluster_presets_need_their_options(preset: str, required: list[str], runner: str):
    with pytest.raises(RunnerError) as caught:
        beam_pipeline_args(preset, {})
    message = str(caught.value)
    assert f"'{preset}'" in message
    for name in required:
        assert f"--beam-option {name}=" in message

    # Completing all but the last option still names exactly the one missing.
    partial = {name: f"value-of-{name}" for name in required[:-1]}
    with pytest.raises(RunnerError) as caught:
        beam_pipeline_args(preset, partial)
    assert f"--beam-option {required[-1]}=" in str(caught.value)
    for name in required[:-1]:
        assert f"--beam-option {name}=" not in str(caught.value)

    complete = {name: f"value-of-{name}" for name in required}
    args = beam_pipeline_args(preset, complete)
    assert f"--runner={runner}" in args
    for name in required:
        assert f"--{name}=value-of-{name}" in args


def test_empty_required_option_counts_as_missing() -> None:
    with pytest.raises(RunnerError, match="flink_master"):
        beam_pipeline_args("flink", {"flink_master": ""})


@pytest.mark.parametrize("preset", ["flink", "spark"])
def test_portable_cluster_presets_default_to_docker_workers(preset: str) -> None:
    required = BEAM_PRESETS[preset].required
    values = dict.fromkeys(required, "host:1234")

    default = _options(beam_pipeline_args(preset, values))
    changed = _options(beam_pipeline_args(preset, {**values, "environment_type": "LOOPBACK"}))

    assert default.view_as(PortableOptions).environment_type == "DOCKER"
    assert changed.view_as(PortableOptions).environment_type == "LOOPBACK"


def test_flink_options_reach_beam() -> None:
    options = _options(beam_pipeline_args("flink", {"flink_master": "flink.example:8081"}))
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert options.get_all_options()["flink_master"] == "flink.example:8081"


def test_unknown_preset_is_rejected_listing_the_choices() -> None:
    with pytest.raises(RunnerError, match="unknown Beam preset 'direct'") as caught:
        beam_pipeline_args("direct", {})
    for name in BEAM_PRESETS:
        assert name in str(caught.value)


def test_cli_offers_every_preset() -> None:
    from aet.pipelines.cli import build_parser

    parser = build_parser()
    for name in BEAM_PRESETS:
        args = parser.parse_args(["run", "finance_risk", "--beam-preset", name])
        assert args.beam_preset == name
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "finance_risk", "--beam-preset", "direct"])


@pytest.mark.parametrize(
    ("preset", "options", "local"),
    [
        ("in-process", {}, True),
        ("multi-processing", {}, True),
        ("flink", {"flink_master": "localhost:8081"}, False),
    ],
)
def test_local_workers_get_no_tfx_sdist_remote_ones_do(preset, options, local, monkeypatch):
    from tfx.utils import dependency_utils

    from aet.pipelines import runners

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", lambda: built.append(1) or "x")
    args = beam_pipeline_args(preset, options)
    assert runners.runs_on_this_machine(args) is local
    with runners._no_tfx_package_for_local_workers(args):
        flags = dependency_utils.make_beam_dependency_flags(args)
    assert (flags == args) is local and (built == []) is local
    assert dependency_utils.make_beam_dependency_flags.__name__ == "make_beam_dependency_flags"
