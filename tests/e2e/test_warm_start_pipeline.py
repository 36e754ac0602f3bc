"""A second run on new data with `training.warm_start` starts from the model the first
run blessed, trains the head first and unfreezes earlier layers in stages. The first run
is the session's finance_risk run, copied as it left its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_TRAINING, CliRun, assert_succeeded, run_aet

pytestmark = pytest.mark.e2e


def _history(summary: dict) -> dict[str, list[float]]:
    return json.loads(Path(summary["training"]["history_file"]).read_text())["history"]


def test_second_run_warm_starts_from_the_blessed_model_and_unfreezes_in_stages(
    tmp_path: Path, german_credit_csv: Path, finance_first_run: CliRun, finance_run: CliRun
) -> None:
    output = finance_first_run.output
    first = finance_first_run.summary
    assert first["blessed"] is True
    scratch_history = _history(first)

    lines = german_credit_csv.read_text().splitlines(keepends=True)
    new_data = tmp_path / "new" / "credit.csv"
    new_data.parent.mkdir()
    new_data.write_text("".join([lines[0], *lines[201:]]))  # 800 rows, a shifted sample
    second = run_aet(
        "run",
        "finance_risk",
        *SMALL_TRAINING,
        "--data",
        str(new_data),
        "--set",
        "training.warm_start=true",
        output=output,
    )
    assert_succeeded(second)
    events = second.summary["training"]["events"]

    warm = [e for e in events if e["callback"] == "WarmStart"]
    assert len(warm) == 1
    # The metadata copied with the run points at the first run's artifacts.
    assert warm[0]["to"].startswith(str(finance_run.output / "tfx" / "Trainer" / "model"))
    assert "0 started fresh" in warm[0]["why"]

    stages = [(e["epoch"], e["from"], e["to"]) for e in events if e["what"] == "unfrozen_stage"]
    assert stages == [(1, 0, 1), (3, 1, 2)]  # head, then the block, then the embeddings
    history = _history(second.summary)
    assert history["unfreezing_stage"][:5] == [0, 0, 1, 1, 2]
    # It starts where the blessed model left off, not from random weights.
    assert history["val_auc"][0] > scratch_history["val_auc"][0] + 0.1
    assert second.summary["blessed"] is True
    assert len(second.pushed_versions("finance_risk")) == 2
