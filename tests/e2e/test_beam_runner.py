"""The same pipeline on BeamDagRunner with the DirectRunner multi-processing preset:
Beam work really fans out over two worker processes. The model is finance_risk's
logistic-regression architecture, which proves that choice end to end as well. A
credential passed as a Beam arg reaches neither the run's owner-only logs nor its
summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_TRAINING, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e

SENTINEL = "sentinel-storage-key-5f0c"


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
        f"--beam-arg=--storage_access_key={SENTINEL}",
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

    logs = list((tmp_path / "logs").iterdir())
    assert logs and all(oct(log.stat().st_mode & 0o777) == oct(0o600) for log in logs)
    assert "storage_access_key=***" in Path(summary["log_file"]).read_text()
    for text in (*(log.read_text() for log in logs), run.stdout, run.stderr):
        assert SENTINEL not in text
    assert SENTINEL not in (tmp_path / "run_summary.json").read_text()
