"""`pipelines.factory`: what the Evaluator judges a new model against. The served version
comes first, whichever output folder pushed it (`--serving-dir` may be shared, local or
remote); the latest model blessed in this output stands in where nothing is served, and
in a pipeline compiled to run later (not tied to what was served when it was compiled).
`evaluation.baseline: none` judges by thresholds alone and lets the Pusher replace what
is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from aet.components.drift.component import DriftValidator
from aet.components.spans import SpanInput
from aet.pipelines import factory
from aet.pipelines.domains import load_domain
from aet.pipelines.factory import create_pipeline, run_layout


def _pipeline(
    root: Path,
    serving_root: Path | str | None = None,
    *overrides: str,
    warm_start: str = "always",
    **options,
):
    config = load_domain(
        "finance_risk", [f"training.warm_start={warm_start}", *overrides], default_data=True
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
    # The warm start begins from what is served too.
    base_model = components["Trainer"].inputs["base_model"]
    assert base_model.producer_component_id == "served_baseline"


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


def _served(serving_root: Path) -> None:
    version = serving_root / "finance_risk" / "7"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")


def test_a_span_reads_its_own_folder_through_tfx_span_patterns(tmp_path: Path) -> None:
    components, _ = _pipeline(tmp_path / "run", span=SpanInput(str(tmp_path / "spans"), 3))
    example_gen = components["CsvExampleGen"].exec_properties
    assert example_gen["input_base"] == str(tmp_path / "spans")
    assert '"pattern": "span-{SPAN:4}/*.csv"' in example_gen["input_config"]
    assert '"start_span_number": 3' in example_gen["range_config"]


def test_a_new_span_warm_starts_from_the_served_model_and_the_first_afresh(tmp_path) -> None:
    serving_root = tmp_path / "serving"
    _served(serving_root)
    span = SpanInput(str(tmp_path / "spans"), 2)
    new, _ = _pipeline(
        tmp_path / "r", serving_root, warm_start="new_span", span=span, new_span=True
    )
    assert new["Trainer"].inputs["base_model"].producer_component_id == "served_baseline"
    again, _ = _pipeline(tmp_path / "r", serving_root, warm_start="new_span", span=span)
    assert "base_model" not in again["Trainer"].inputs  # the same span run again
    never, _ = _pipeline(tmp_path / "r", serving_root, warm_start="never", span=span, new_span=True)
    assert "base_model" not in never["Trainer"].inputs


def test_the_window_of_spans_feeds_transform_and_the_new_span_the_evaluator(tmp_path) -> None:
    span = SpanInput(str(tmp_path / "spans"), 5)
    components, _ = _pipeline(tmp_path / "run", None, "data.window=3", span=span)
    window = components["span_window_resolver"]
    assert window._config == {"first": 3, "last": 5}
    assert components["Transform"].inputs["examples"].producer_component_id == window.id
    assert components["Evaluator"].inputs["examples"].producer_component_id == "CsvExampleGen"
    single, _ = _pipeline(tmp_path / "run", None, span=span)
    assert "span_window_resolver" not in single
    assert single["Transform"].inputs["examples"].producer_component_id == "CsvExampleGen"


def test_a_later_span_is_checked_for_drift_and_the_stop_policy_gates_transform(tmp_path) -> None:
    first, _ = _pipeline(tmp_path / "run", span=SpanInput(str(tmp_path / "spans"), 1))
    assert not [node for node in first if "drift" in node]  # no span before it
    later = SpanInput(str(tmp_path / "spans"), 4)
    retrain, _ = _pipeline(tmp_path / "run", span=later, served_span=3)
    previous = retrain["previous_span_statistics_resolver"]
    assert previous._config == {"first": 0, "last": 3, "most": 1}
    validator = retrain["previous_span_drift_validator"]
    assert isinstance(validator, DriftValidator)
    assert validator.inputs["baseline_statistics"].producer_component_id == previous.id
    assert "served_training_drift_validator" not in retrain  # span 3 is the span before
    assert "DriftGate" not in retrain
    stop, _ = _pipeline(tmp_path / "run", None, "drift.policy=stop", span=later)
    assert stop["DriftGate"] in stop["Transform"].upstream_nodes


def test_a_span_after_an_unpushed_one_is_also_checked_against_the_served_models_data(
    tmp_path,
) -> None:
    later = SpanInput(str(tmp_path / "spans"), 4)
    components, _ = _pipeline(
        tmp_path / "run", None, "drift.policy=stop", span=later, served_span=2
    )
    served = components["served_training_statistics_resolver"]
    assert served._config == {"first": 2, "last": 2, "most": 1}
    validator = components["served_training_drift_validator"]
    assert validator.inputs["baseline_statistics"].producer_component_id == served.id
    gate = components["DriftGate"].inputs
    assert gate["training_anomalies"].producer_component_id == validator.id
    assert gate["anomalies"].producer_component_id == "previous_span_drift_validator"


def test_parquet_data_is_read_by_file_based_example_gen_with_the_parquet_executor(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "part-0.parquet").write_bytes(b"")
    config = load_domain("finance_risk")
    layout = run_layout(tmp_path / "run", config, None)
    for data, span, pattern in (
        (folder, None, "*.parquet"),
        (folder / "part-0.parquet", None, "part-0.parquet"),
        (folder, SpanInput(str(tmp_path / "spans"), 2), "span-{SPAN:4}/*.parquet"),
    ):
        pipeline = create_pipeline(config, data_path=str(data), span=span, **layout)
        components = {component.id: component for component in pipeline.components}
        assert "CsvExampleGen" not in components
        example_gen = components["ParquetExampleGen"]
        assert example_gen.executor_spec.executor_class.__name__ == "ParquetExecutor"
        assert f'"pattern": "{pattern}"' in example_gen.exec_properties["input_config"]
        assert components["Transform"].inputs["examples"].producer_component_id == (
            "ParquetExampleGen"
        )
