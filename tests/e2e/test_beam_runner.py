"""The same pipeline on BeamDagRunner with the DirectRunner multi-processing preset:
Beam work really fans out over two worker processes. The model is finance_risk's
logistic-regression architecture, which proves that choice end to end as well."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_TRAINING, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e


def test_finance_risk_on_beam_multi_processing(tmp_path: Path) -> None:
    run = run_aet(
        "run",
        "finance_risk",
        "--runner",
        "beam",
        "--beam-preset",
        "multi-processing",
        "--beam-option",
        "direct_num_workers=2",
        *SMALL_TRAINING,
        "--set",
        "model.architecture=logistic_regression",
        "--set",
        "training.learning_rate=0.02",  # a linear model takes larger steps in 110 batches
        output=tmp_path,
    )

    assert_succeeded(run)
    summary = run.summary
    assert summary["runner"] == "beam"
    assert set(summary["components"].values()) == {"complete"}
    assert summary["pushed_model_dir"] and Path(summary["pushed_model_dir"]).is_dir()
    assert summary["blessed"] and summary["metrics"]["overall"]["auc"] >= 0.65
    keras_metadata = (Path(summary["pushed_model_dir"]) / "keras_metadata.pb").read_bytes()
    assert b'"name": "logistic_regression"' in keras_metadata
    # Beam relays the log records of its SDK worker processes through the job service.
    assert "local_job_service: Worker:" in Path(summary["log_file"]).read_text()
