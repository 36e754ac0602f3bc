"""`pipelines.factory`: what the Evaluator judges a new model against. The served version
comes first, whichever output folder pushed it (`--serving-dir` may be shared, local or
remote); the latest model blessed in this output stands in where nothing is served, and
in a pipeline compiled to run later (not tied to what was served when it was compiled).
`evaluation.baseline: none` judges by thresholds alone and lets the Pusher replace what
is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from aet.pipelines import factory
from aet.pipelines.domains import load_domain
from aet.pipelines.factory import create_pipeline, run_layout


def _pipeline(root: Path, serving_root: Path | str | None = None, *overrides: str, **options):
    config = load_domain(
        "finance_risk", ["training.warm_start=true", *overrides], default_data=True
    )
    layout = run_layout(root, config, serving_root)
    pipeline = create_pipeline(config, data_path=str(config.data.default), **layout, **options)
    return {component.id: component for component in pipeline.components}, layout


def _baseline_producer(components: dict) -> str:
    channel = components["Evaluator"].inputs["baseline_model"]
    return channel.producer_component_id


def test_a_first_run_is_judged_against_the_latest_blessed_model(tmp_path: Path) -> None:
    components, _ = _pipeline(tmp_path / "run")
    assert "served_baseline" not in components
    assert _baseline_producer(components) == "latest_blessed_model_resolver"


@pytest.mark.parametrize("pushed_by", ["this output", "another output"])
def test_the_newest_served_version_is_the_baseline(tmp_path: Path, pushed_by: str) -> None:
    serving_root = tmp_path / "shared-serving"
    _, layout = _pipeline(tmp_path / "first", serving_root)
    for version in ("100", "250", "99", ".partial-300", "400"):
        (Path(layout["serving_dir"]) / version).mkdir(parents=True)
        if version != "400":  # a numbered folder without its graph is not a version
            (Path(layout["serving_dir"]) / version / "saved_model.pb").write_bytes(b"graph")
    root = tmp_path / ("first" if pushed_by == "this output" else "new")
    components, _ = _pipeline(root, serving_root)
    assert _baseline_producer(components) == "served_baseline"
    served = components["served_baseline"].exec_properties["version_dir"]
    assert served == str(Path(layout["serving_dir"]) / "250")
    # The warm start still begins from this output's own blessed model.
    base_model = components["Trainer"].inputs["base_model"]
    assert base_model.producer_component_id == "latest_blessed_model_resolver"


def test_a_remote_serving_folder_is_read_when_the_pipeline_runs_at_once(
    tmp_path: Path, monkeypatch
) -> None:
    serving_dir = "gs://a-bucket/serving/finance_risk"
    monkeypatch.setattr(factory, "newest_version", {serving_dir: f"{serving_dir}/7"}.get)
    components, _ = _pipeline(tmp_path / "run", "gs://a-bucket/serving")
    assert _baseline_producer(components) == "served_baseline"
    assert components["served_baseline"].exec_properties["version_dir"] == f"{serving_dir}/7"


def test_a_pipeline_compiled_to_run_later_does_not_read_the_serving_folder(
    tmp_path: Path, monkeypatch
) -> None:
    def unreachable(base: str) -> None:
        raise AssertionError(f"{base} was read while the pipeline was compiled")

    monkeypatch.setattr(factory, "newest_version", unreachable)
    components, _ = _pipeline(
        tmp_path / "run", "gs://a-bucket/serving", baseline_from_serving_dir=False
    )
    assert _baseline_producer(components) == "latest_blessed_model_resolver"


def test_no_baseline_judges_by_thresholds_and_lets_the_push_replace_what_is_served(
    tmp_path: Path,
) -> None:
    serving_root = tmp_path / "serving"
    (serving_root / "finance_risk" / "5").mkdir(parents=True)
    (serving_root / "finance_risk" / "5" / "saved_model.pb").write_bytes(b"graph")
    components, _ = _pipeline(tmp_path / "run", serving_root, "evaluation.baseline=none")
    assert "baseline_model" not in components["Evaluator"].inputs
    assert "served_baseline" not in components
    assert '"replace_served": true' in components["Pusher"].exec_properties["custom_config"]
    served, _ = _pipeline(tmp_path / "run", serving_root)
    assert '"replace_served": false' in served["Pusher"].exec_properties["custom_config"]
