"""finance_risk over spans of data, end to end: a folder of three spans, the third with a
moved applicant mix, run with `drift.policy: stop` and a window of two spans; then one
more span given with `--data` into the same output, trained too little to be better
than the served model. The spans are Parquet files, typed as a Parquet writer types
German Credit (integers and strings), so the Parquet ExampleGen runs under the whole
span flow; every other finance e2e reads CSV.

- span 1 trains from scratch and is pushed; span 2 is compared with span 1 (no drift),
  trains on spans 2 and 1 warm-started from the served model, and the summary has the
  served model's score on span 2 beside the new one's;
- span 3 drifted in the features that moved and stops before training: nothing pushed;
- span 4 (`--data`, the default policy: retrain) is flagged against span 3, not
  against span 2 whose model is served, and trained, and its worse model is not pushed
  over the served one; the requests a client logged, of applicants whose mix moved,
  raise the serving-skew alarm.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from aet.config.kinds import kind_of
from aet.serving.request_log import RequestLog
from tests.e2e.conftest import (
    SMALL_TRAINING,
    CliRun,
    assert_report_shows_the_run,
    assert_succeeded,
    run_aet,
)

pytestmark = pytest.mark.e2e

SPAN_ROWS = ((0, 450), (450, 750), (750, 1000))  # German Credit's rows in each span
# Small spans: about 70 held-out rows per span, so the blessing's AUC floor is lowered
# from 0.65 and the first span's short training is served reliably (the change
# threshold still gates). The drift thresholds are the defaults: the compared training
# splits of about 200 rows differ by chance by more than 0.1 in some features, and the
# sampling floor is what keeps the unchanged spans from being flagged.
SMALL_SPANS = (*SMALL_TRAINING, "--set", "evaluation.thresholds.auc.lower=0.55")


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    """`rows` as a Parquet file, each column typed as pyarrow reads the CSV."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pyarrow.csv.read_csv(io.BytesIO(text.getvalue().encode())), path)
    return path


def _moved(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Applicants who borrow three times as much, half of them for a new car."""
    moved = [dict(row) for row in rows]
    for index, row in enumerate(moved):
        row["credit_amount"] = str(int(row["credit_amount"]) * 3)
        if index % 2 == 0:
            row["purpose"] = "car (new)"
    return moved


@pytest.fixture(scope="module")
def german_credit_rows(german_credit_csv: Path) -> list[dict[str, str]]:
    """The rows in a fixed random order: the file is partly sorted (by
    personal_status_and_sex), and spans cut from it in order would drift."""
    with german_credit_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(0).shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def span_run(german_credit_rows, tmp_path_factory) -> CliRun:
    folder = tmp_path_factory.mktemp("spans") / "credit"
    for number, (start, end) in enumerate(SPAN_ROWS, 1):
        rows = german_credit_rows[start:end]
        span = folder / f"span-0{number}" / "applicants.parquet"
        _write(span, _moved(rows) if number == 3 else rows)
    return run_aet(
        "run", "finance_risk", "--data", str(folder), *SMALL_SPANS,
        "--set", "drift.policy=stop", "--set", "data.window=2",
        output=tmp_path_factory.mktemp("span-run") / "run",
    )  # fmt: skip


def _history(run: CliRun) -> dict[int, dict]:
    lines = (run.output / "spans" / "history.jsonl").read_text().splitlines()
    return {entry["span"]: entry for entry in map(json.loads, lines)}


def test_each_span_runs_in_order_and_prints_its_line(span_run: CliRun) -> None:
    assert span_run.returncode == 1, span_run.stdout  # the drifted span stopped its run
    listing = span_run.stdout.split("\nspans:\n")[1].splitlines()
    assert [line.split(":")[0].strip() for line in listing] == ["span 1", "span 2", "span 3"]
    assert "no drift check (no span before it)" in listing[0]
    assert "no drift from span 1" in listing[1] and "warm-started" in listing[1]
    assert "drifted from span 2 in credit_amount, purpose" in listing[2]
    assert "stopped by drift.policy stop" in listing[2]


def test_a_new_span_trains_on_the_window_from_the_served_model(span_run: CliRun) -> None:
    history = _history(span_run)
    first, second = history[1], history[2]
    assert first["trained_on"] == [1] and not first["warm_started"]
    assert first["pushed"] and first["served"] is None
    assert second["trained_on"] == [2, 1] and second["warm_started"]
    # Warm-started, it trains half the epochs (training.warm_start_share, default 0.5).
    assert (first["epochs"], second["epochs"]) == (10, 5)
    assert second["drift"]["against_span"] == 1 and second["drift"]["drifted"] == []
    # The served model (span 1's) was scored on span 2's test split before retraining.
    assert 0.5 < second["served"] <= 1 and 0.5 < second["new"] <= 1
    assert second["pushed"] and second["pushed"] != first["pushed"]


def test_a_drifted_span_stops_before_training_and_pushes_nothing(span_run: CliRun) -> None:
    third = _history(span_run)[3]
    assert third["status"] == "drift_stopped"
    assert third["drift"]["drifted"] == ["credit_amount", "purpose"]
    assert third["trained_on"] == [] and third["pushed"] is None
    summary = span_run.summary  # the last run's: span 3's
    assert summary["span"] == 3
    assert summary["components"]["DriftGate"] == "failed"
    assert "Trainer" not in summary["components"]
    assert summary["drift"]["features"]["purpose"]["value"] > 0.3
    assert "from the span before it in credit_amount, purpose" in span_run.stderr
    assert span_run.pushed_versions("finance_risk") == sorted(
        Path(history["pushed"]).name for history in _history(span_run).values() if history["pushed"]
    )


def _logged(config, rows: list[dict[str, str]], folder: Path) -> Path:
    """`rows` as a client that keeps a request log sent them."""
    encode = kind_of(config).request_encoder(config)
    with RequestLog(folder) as log:
        log.record([encode(row) for row in rows])
    return folder


@pytest.fixture(scope="module")
def worse_span_run(
    span_run: CliRun, german_credit_rows, finance_config, tmp_path_factory
) -> tuple[CliRun, list]:
    """Span 4 given with --data into the same output, trained two steps from scratch,
    with the requests of applicants whose mix moved: (the run, the versions served
    before it)."""
    before = span_run.pushed_versions("finance_risk")
    folder = tmp_path_factory.mktemp("span-4")
    data = _write(folder / "applicants.parquet", german_credit_rows[100:500])
    requests = _logged(finance_config, _moved(german_credit_rows[500:800]), folder / "requests")
    worse = run_aet(
        "run", "finance_risk", "--data", str(data), "--serving-requests", str(requests),
        "--set", "training.train_steps=2", "--set", "training.steps_per_epoch=1",
        "--set", "evaluation.thresholds.auc.lower=0.55",
        "--set", "training.warm_start=never", "--set", "data.window=2",
        output=span_run.output,
    )  # fmt: skip
    return worse, before


def test_new_data_given_to_the_same_output_is_its_next_span(worse_span_run) -> None:
    worse, _ = worse_span_run
    assert_succeeded(worse)  # the run worked; its model is worse than the served one
    summary = worse.summary
    assert summary["span"] == 4
    assert summary["trained_on_spans"] == [4, 3]
    # The default policy retrains on a drifted span; the drift is reported.
    assert summary["drift"]["against_span"] == 3
    assert "credit_amount" in summary["drift"]["drifted"]
    assert "DriftGate" not in summary["components"]
    assert "ParquetExampleGen" in summary["components"]
    assert "input checked: 400 rows (parquet)" in worse.stdout
    # Span 3 was stopped, so the served model trained on span 2: span 4 is like it.
    from_training = summary["drift_from_training"]
    assert from_training["against_span"] == 2 and from_training["drifted"] == []
    assert from_training["rows"][0] > 200 and from_training["sampling_floor"] < 0.2
    assert "drift from span 2 (the served model's data): none" in worse.stdout


def test_logged_requests_that_moved_from_training_raise_the_skew_alarm(worse_span_run) -> None:
    worse, _ = worse_span_run
    skew = worse.summary["skew"]
    assert {"credit_amount", "purpose"} <= set(skew["drifted"])
    assert "creditability" not in skew["features"]  # a request carries no label
    assert f"serving skew: {', '.join(skew['drifted'])}" in worse.stdout


def test_a_worse_model_on_the_new_span_is_not_pushed(worse_span_run) -> None:
    worse, before = worse_span_run
    summary = worse.summary
    served, new = summary["baseline_metrics"]["auc"], summary["metrics"]["overall"]["auc"]
    assert new < served - 0.02  # the change threshold finance_risk gates on
    assert summary["blessed"] is False and summary["pushed_model_dir"] is None
    assert worse.pushed_versions("finance_risk") == before
    entry = _history(worse)[4]
    assert entry["served"] == pytest.approx(served) and entry["new"] == pytest.approx(new)
    assert entry["pushed"] is None


def test_the_report_shows_the_span_history(worse_span_run) -> None:
    worse, _ = worse_span_run
    found = assert_report_shows_the_run(worse, {"overview", "evaluation", "spans", "serving"})
    assert "drift|features|credit_amount|value" in found["numbers"]
    page = (worse.output / "report" / "index.html").read_text()
    for span in (1, 2, 3, 4):
        assert f'<tr data-span="{span}">' in page
    assert "stopped: drift.policy stop" in page
    assert "drift from span 2, the served model&#39;s training data" in page
    value = worse.summary["drift"]["features"]["credit_amount"]["value"]
    assert f'data-summary="drift|features|credit_amount|value">{value:.4f}</td>' in page
