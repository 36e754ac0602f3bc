"""The same pipeline on BeamDagRunner with the DirectRunner multi-processing preset:
Beam work really fans out over two worker processes."""

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
        output=tmp_path,
    )

    assert_succeeded(run)
    summary = run.summary
    assert summary["runner"] == "beam"
    assert set(summary["components"].values()) == {"complete"}
    assert summary["pushed_model_dir"] and Path(summary["pushed_model_dir"]).is_dir()
    # Beam relays the log records of its SDK worker processes through the job service.
    assert "local_job_service: Worker:" in Path(summary["log_file"]).read_text()
