"""finance_risk end to end with the local runner: every component runs, the pushed
SavedModel scores raw German Credit rows and ships warm-up requests beside the server's
models.config, a re-run reuses the cache, and neither drifted data nor a model that
fails the serving check touches the pushed model."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

from aet.components.export.server_config import read_models_config
from aet.serving.examples import serialize_records
from tests.conftest import INFERRED_SCHEMA_COMPONENTS
from tests.e2e.conftest import (
    SMALL_TRAINING,
    CliRun,
    assert_ready_for_tf_serving,
    assert_succeeded,
    run_aet,
    saved_model_cli_show,
)

pytestmark = pytest.mark.e2e

# finance_risk ships a curated schema, so ImportSchemaGen stands where SchemaGen would.
COMPONENTS = INFERRED_SCHEMA_COMPONENTS - {"SchemaGen"} | {"ImportSchemaGen"}


def _rows(path: Path, count: int) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]


def test_every_component_executes_and_the_summary_is_written(finance_run: CliRun) -> None:
    summary = finance_run.summary
    assert summary["domain"] == "finance_risk"
    assert summary["status"] == "succeeded"
    assert summary["components"] == dict.fromkeys(COMPONENTS, "complete")
    assert summary["blessed"] is True
    overall = summary["metrics"]["overall"]
    assert {"auc", "pr_auc", "ks", "brier_score", "calibration"} <= set(overall)
    assert 0.5 < overall["auc"] <= 1.0
    # Slices by age band and foreign worker are reported beside the overall metrics.
    assert any(name.startswith("age_band=") for name in summary["metrics"])
    assert any(name.startswith("foreign_worker=") for name in summary["metrics"])
    for line in ("[ 1/12]", "Trainer", "blessed: yes", "serving check: passed", "pushed model:"):
        assert line in finance_run.stdout


def test_pushed_model_is_in_serving_layout_and_scores_raw_rows(
    finance_run: CliRun, finance_config, german_credit_csv: Path
) -> None:
    pushed = Path(finance_run.summary["pushed_model_dir"])
    assert pushed.parent == finance_run.output / "serving" / "finance_risk"
    assert pushed.name.isdigit() and (pushed / "saved_model.pb").is_file()

    model = tf.saved_model.load(str(pushed))
    assert {"serving_default", "transform_features"} <= set(model.signatures)
    schema = tfdv.load_schema_text(str(finance_config.resolve(finance_config.data.schema_file)))
    rows = _rows(german_credit_csv, 50)
    for row in rows:
        del row["creditability"]  # a raw applicant: no label at serving time
    scores = model.signatures["serving_default"](
        examples=tf.constant(serialize_records(rows, schema))
    )["probability"].numpy()
    assert scores.shape == (50,)
    assert np.all((scores > 0) & (scores < 1))
    assert np.unique(scores.round(6)).size > 10, "the model gives (nearly) one score to all"


def test_pushed_model_lists_its_signatures_and_ships_warmup_requests(finance_run: CliRun) -> None:
    logs = assert_ready_for_tf_serving(
        finance_run, {"serving_default": 2, "predict_features": 2, "classification": 2}
    )
    kinds = [log.WhichOneof("log_type") for log in logs]
    assert kinds.count("predict_log") == 4 and kinds.count("classify_log") == 2
    assert logs[0].predict_log.request.model_spec.name == "finance_risk"
    assert logs[0].predict_log.request.inputs["examples"].tensor_shape.dim[0].size == 1
    shown = saved_model_cli_show(Path(finance_run.summary["pushed_model_dir"]))
    assert "Method name is: tensorflow/serving/classify" in shown


def test_the_push_writes_the_model_servers_config(finance_run: CliRun) -> None:
    serving_root = finance_run.output / "serving"
    assert finance_run.summary["server_config"] == {
        "models_config": str(serving_root / "models.config"),
        "batching_parameters": str(serving_root / "batching_parameters.txt"),
    }
    (entry,) = read_models_config(str(serving_root)).model_config_list.config
    assert (entry.name, entry.base_path) == ("finance_risk", "/models/finance_risk")
    assert entry.model_version_policy.latest.num_versions == 2
    assert "max_batch_size { value: 64 }" in (serving_root / "batching_parameters.txt").read_text()


def test_second_run_reuses_cached_components(finance_run: CliRun, tmp_path: Path) -> None:
    again = run_aet("run", "finance_risk", *SMALL_TRAINING, output=finance_run.output)
    assert_succeeded(again)
    components = again.summary["components"]
    for name in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert components[name] == "cached", components
    assert "reused from cache:" in again.stdout
    assert again.summary["metrics"]["overall"]["auc"] == pytest.approx(
        finance_run.summary["metrics"]["overall"]["auc"]
    )


def test_drifted_data_stops_before_training_and_keeps_the_pushed_model(
    finance_run: CliRun, german_credit_csv: Path, tmp_path: Path
) -> None:
    with german_credit_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[::4]:
        row["purpose"] = "cryptocurrency"  # a category the curated schema does not know
    drifted = tmp_path / "drifted.csv"
    with drifted.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = finance_run.pushed_versions("finance_risk")

    failed = run_aet(
        "run", "finance_risk", "--data", str(drifted), *SMALL_TRAINING, output=finance_run.output
    )

    assert failed.returncode == 1
    assert "purpose" in failed.stderr and "anomalies" in failed.stderr
    assert failed.summary["status"] == "failed"
    assert failed.summary["pushed_model_dir"] is None
    assert "Trainer" not in failed.summary["components"]
    assert finance_run.pushed_versions("finance_risk") == before
