"""`pipelines.spans`: staging data as an output's spans, and the span history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aet.pipelines.spans import (
    DRIFT_STOPPED,
    SpanError,
    judged_metric,
    newest_span_run,
    served_span,
    span_entry,
    span_line,
    spans_root,
    stage_span,
    staged_spans,
    user_spans,
)


def _csv(path: Path, rows: str = "a,b\n1,2\n") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows)
    return os.fspath(path)


def test_new_data_becomes_the_next_span_and_seen_data_the_span_it_was(tmp_path) -> None:
    output = tmp_path / "run"
    first = _csv(tmp_path / "jan.csv")
    second = _csv(tmp_path / "feb" / "part-1.csv")
    assert stage_span(output, first, first).number == 1
    assert stage_span(output, str(Path(second).parent), str(Path(second).parent)).number == 2
    assert stage_span(output, first, first).number == 1  # the same file, unchanged
    # The span folders show the data's files, through links, not copies.
    assert (spans_root(output) / "span-0001" / "jan.csv").read_text() == "a,b\n1,2\n"
    assert (spans_root(output) / "span-0001" / "jan.csv").is_symlink()
    assert (spans_root(output) / "span-0002" / "part-1.csv").exists()
    assert [s.span for s in staged_spans(output)] == [1, 2]


def test_data_changed_in_place_is_a_new_span(tmp_path) -> None:
    output = tmp_path / "run"
    data = _csv(tmp_path / "data.csv")
    stage_span(output, data, data)
    _csv(tmp_path / "data.csv", "a,b\n1,2\n3,4\n")
    assert stage_span(output, data, data).number == 2


def test_a_span_number_keeps_its_meaning(tmp_path) -> None:
    output = tmp_path / "run"
    old = _csv(tmp_path / "spans" / "span-03" / "x.csv")
    stage_span(output, old, old, number=3)
    other = _csv(tmp_path / "elsewhere" / "x.csv", "a,b\n9,9\n")
    with pytest.raises(SpanError, match=r"span 3 of this output was .*next span number \(4\)"):
        stage_span(output, other, other, number=3)
    with pytest.raises(SpanError, match=r"span 2 is older than span 3"):
        stage_span(output, other, other, number=2)


def test_a_folder_of_spans_lists_its_spans_in_number_order(tmp_path) -> None:
    for name in ("span-10", "span-2", "span-01", "notes"):
        (tmp_path / name).mkdir()
    assert [(n, p.name) for n, p in user_spans(tmp_path)] == [
        (1, "span-01"),
        (2, "span-2"),
        (10, "span-10"),
    ]
    assert user_spans(tmp_path / "span-01") == []
    (tmp_path / "span-1").mkdir()
    with pytest.raises(SpanError, match="more than one folder is span 1"):
        user_spans(tmp_path)


def _summary(**changes) -> dict:
    summary = {
        "span": 3,
        "data": "/data/span-03",
        "run_id": "r3",
        "status": "succeeded",
        "components": {"Trainer": "complete"},
        "component_seconds": {"Trainer": 4.2},
        "trained_on_spans": [3, 2],
        "training": {"events": [{"callback": "WarmStart"}]},
        "drift": {
            "against_span": 2,
            "drifted": [],
            "features": {
                "age": {"measure": "jensen_shannon_divergence", "value": 0.02, "threshold": 0.1},
                "job": {"measure": "l_infinity", "value": 0.06, "threshold": 0.1},
            },
            "reasons": [],
        },
        "baseline_metrics": {"auc": 0.71},
        "metrics": {"overall": {"auc": 0.78}},
        "blessed": True,
        "pushed_model_dir": "/serving/finance_risk/17",
    }
    summary.update(changes)
    return summary


def test_a_span_line_says_drift_training_scores_and_push(finance_config) -> None:
    assert judged_metric(finance_config) == "auc"  # finance_risk's change threshold
    entry = span_entry(finance_config, _summary())
    assert entry["trainer_s"] == 4.2
    line = span_line(entry)
    assert line == (
        "span 3: no drift from span 2 (closest: job 0.060 of 0.1); trained on span(s) 3, 2 "
        "(warm-started); auc served 0.7100 -> new 0.7800 on this span; "
        "pushed /serving/finance_risk/17"
    )


def test_a_span_the_drift_policy_stopped_says_so(finance_config) -> None:
    drift = _summary()["drift"] | {"drifted": ["job"]}
    entry = span_entry(
        finance_config,
        _summary(
            status="failed",
            components={"DriftGate": "failed"},
            drift=drift,
            metrics={},
            baseline_metrics=None,
            pushed_model_dir=None,
            blessed=False,
        ),
    )
    assert entry["status"] == DRIFT_STOPPED
    assert entry["trained_on"] == []
    assert span_line(entry) == (
        "span 3: drifted from span 2 in job; stopped by drift.policy stop, nothing trained"
    )


def test_a_span_after_a_stopped_one_also_says_its_drift_from_the_served_models_data(
    finance_config,
) -> None:
    previous = _summary()["drift"]
    from_training = previous | {"against_span": 1, "drifted": ["job"]}
    entry = span_entry(finance_config, _summary(drift_from_training=from_training))
    assert entry["drift_from_training"]["against_span"] == 1
    assert span_line(entry).startswith(
        "span 3: no drift from span 2 (closest: job 0.060 of 0.1); drifted from span 1 "
        "(the served model's data) in job; trained on"
    )
    assert span_entry(finance_config, _summary())["drift_from_training"] is None


def test_the_served_span_is_the_newest_the_last_pushed_model_trained_on() -> None:
    history = [
        {"span": 1, "pushed": "/s/1", "trained_on": [1]},
        {"span": 2, "pushed": "/s/2", "trained_on": [2, 1]},
        {"span": 3, "pushed": None, "trained_on": []},  # stopped by drift
        {"span": 4, "pushed": None, "trained_on": [4, 3]},  # not better
    ]
    assert served_span(history) == 2
    assert served_span(history[:1]) == 1
    assert served_span([]) is None


def test_a_span_whose_run_failed_is_still_new_when_run_again() -> None:
    history = [
        {"span": 1, "status": "succeeded"},
        {"span": 2, "status": DRIFT_STOPPED},
        {"span": 3, "status": "failed"},
    ]
    assert newest_span_run(history) == 2  # span 3 > 2: it warm-starts when retried
    assert newest_span_run(history[2:]) is None  # a failed first span is still the first
