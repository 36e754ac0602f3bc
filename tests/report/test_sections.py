"""The report's sections from a run's record: a failed run says where and why it
stopped, small slices are marked instead of judged, thresholds show pass or fail, and
the data section draws TFDV's own statistics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from aet.pipelines.domains import load_domain
from aet.report import plots, sections
from aet.report.render import differences, render, write_report
from aet.report.run_record import RunNotFound, RunRecord, load_run


@pytest.fixture
def config():
    return load_domain("finance_risk", [], default_data=True)


def _record(config, tmp_path: Path, **summary) -> RunRecord:
    base = {
        "domain": "finance_risk",
        "status": "succeeded",
        "blessed": True,
        "metrics": {},
        "components": {},
        "component_seconds": {},
        "pushed_model_dir": None,
    }
    return RunRecord(run_dir=tmp_path, summary={**base, **summary}, config=config)


def test_a_failed_run_says_where_and_why_it_stopped(config, tmp_path: Path) -> None:
    record = _record(
        config,
        tmp_path,
        status="failed",
        blessed=False,
        error="RuntimeError: anomalies found in train: purpose",
        components={"CsvExampleGen": "complete", "AnomaliesGate": "failed"},
        component_seconds={"CsvExampleGen": 2.0, "AnomaliesGate": 0.1},
    )
    page = render(record)
    assert "RuntimeError: anomalies found in train: purpose" in page
    assert "(stopped at AnomaliesGate)" in page
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids == ["overview", "serving"]  # nothing was trained or evaluated


def test_small_slices_are_marked_and_thresholds_judged(config, tmp_path: Path) -> None:
    metrics = {
        "overall": {"auc": 0.61, "example_count": 152.0},
        "foreign_worker=no": {"auc": 0.0, "example_count": 1.0},
        "foreign_worker=yes": {"auc": 0.62, "example_count": 151.0},
    }
    record = _record(config, tmp_path, metrics=metrics, blessed=False)
    overview = sections.overview(record).html
    assert re.search(r'class="bad">fail</span>\s*≥ 0.65', overview)  # auc lower bound 0.65
    evaluation = sections.evaluation(record).html
    assert "foreign_worker=no <span" in evaluation and "(too small to judge)" in evaluation
    assert 'data-summary="metrics|foreign_worker=no|auc"' not in evaluation
    assert 'data-summary="metrics|foreign_worker=yes|auc">0.6200' in evaluation
    assert "<svg" not in evaluation  # no curves recorded, none drawn


def test_intervals_are_shown_under_the_values_of_judged_slices(config, tmp_path: Path) -> None:
    metrics = {
        "overall": {"auc": 0.79, "example_count": 152.0},
        "foreign_worker=no": {"auc": 1.0, "example_count": 6.0},
    }
    intervals = {"overall": {"auc": [0.7312, 0.8544]}, "foreign_worker=no": {"auc": [0.1, 1.0]}}
    record = _record(config, tmp_path, metrics=metrics, metric_intervals=intervals)
    evaluation = sections.evaluation(record).html
    assert 'data-summary="metric_intervals|overall|auc|0">0.7312' in evaluation
    assert 'data-summary="metric_intervals|overall|auc|1">0.8544' in evaluation
    assert "0.1000" not in evaluation  # a 6-example slice's interval is not judged either
    assert "Poisson bootstrap" in evaluation
    overview = sections.overview(record).html
    assert "95 % interval" in overview and ">0.8544</span>]" in overview
    without = sections.evaluation(_record(config, tmp_path, metrics=metrics)).html
    assert "interval" not in without
    two = {"overall": {"auc": 0.0, "example_count": 2.0}}
    record = _record(config, tmp_path, metrics=two, metric_intervals={"overall": {"auc": [0, 0]}})
    assert "95 % interval" not in sections.overview(record).html  # 2 examples: not judged


def test_a_binary_classifier_gets_its_roc_precision_recall_and_reliability_curves(
    config, tmp_path: Path
) -> None:
    curves = {
        "roc": [(1.0, 1.0), (0.25, 0.75), (0.0, 0.0)],
        "precision_recall": [(1.0, 0.5), (0.75, 0.75), (0.0, 1.0)],
        "calibration": [(0.1, 0.0, 2.0), (0.6, 0.5, 4.0), (0.9, 1.0, 2.0)],
    }
    metrics = {"overall": {"auc": 0.8125, "example_count": 8.0}}
    html = sections.evaluation(_record(config, tmp_path, metrics=metrics, curves=curves)).html
    assert "<title>ROC, precision-recall and reliability curves</title>" in html
    assert "ROC (AUC 0.812)" in html


def test_a_summary_from_before_a_field_existed_still_renders(config, tmp_path: Path) -> None:
    check = {"passed": True, "signatures": {"serving_default": 2}, "latency_ms": {}}
    html = sections.serving(_record(config, tmp_path, serving_check=check)).html
    assert '<tr data-signature="serving_default">' in html and "<td>serving_default</td>" in html


def test_a_multiclass_classifier_gets_its_confusion_matrix(config, tmp_path: Path) -> None:
    matrix = {"classes": ["a", "b", "c"], "counts": [[2, 1, 0], [1, 1, 1], [0, 0, 3]]}
    metrics = {"overall": {"accuracy": 0.6667, "example_count": 9.0}}
    html = sections.evaluation(_record(config, tmp_path, metrics=metrics, confusion_matrix=matrix))
    assert "<title>confusion matrix</title>" in html.html
    assert "each example under its top class" in html.html


def test_the_overview_sets_the_baseline_beside_the_new_model(config, tmp_path: Path) -> None:
    metrics = {"overall": {"auc": 0.70, "example_count": 152.0}}
    record = _record(config, tmp_path, metrics=metrics, baseline_metrics={"auc": 0.75})
    html = sections.overview(record).html
    assert 'data-summary="baseline_metrics|auc">0.7500</td>' in html
    assert '<td class="num">-0.0500</td>' in html


def _statistics() -> statistics_pb2.DatasetFeatureStatistics:
    stats = statistics_pb2.DatasetFeatureStatistics(num_examples=10)
    age = stats.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
    age.path.step.append("age_in_years")
    age.num_stats.mean = 35.5
    age.num_stats.common_stats.num_non_missing = 8
    age.num_stats.common_stats.num_missing = 2
    histogram = age.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, count in ((18, 3), (40, 5)):
        histogram.buckets.add(low_value=low, high_value=low + 22, sample_count=count)
    purpose = stats.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    purpose.path.step.append("purpose")
    purpose.string_stats.unique = 2
    purpose.string_stats.common_stats.num_non_missing = 10
    for value, frequency in (("car", 7), ("radio", 3)):
        purpose.string_stats.top_values.add(value=value, frequency=frequency)
    return stats


def test_the_data_section_draws_tfdvs_statistics_and_names_anomalies(
    config, tmp_path: Path
) -> None:
    record = _record(config, tmp_path, components={"AnomaliesGate": "failed"})
    record.statistics = {"train": _statistics()}
    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info["purpose"].short_description = "Unexpected string values"
    record.anomalies = {"train": anomalies}
    record.schema = text_format.Parse(
        """
        feature { name: "age_in_years" type: INT int_domain { min: 18 } }
        feature { name: "purpose" type: BYTES domain: "purpose" }
        string_domain { name: "purpose" value: "car" value: "radio" value: "others" }
        """,
        schema_pb2.Schema(),
    )
    html = sections.data(record).html
    assert "<td>18..…</td>" in html and "<td>one of 3 known values</td>" in html
    assert '<td class="num" data-rows="train">10</td>' in html
    assert '<td>age_in_years</td><td>INT</td><td class="num">20.0%</td>' in html
    assert html.count("<svg") == 2  # a histogram and the top values
    assert "distribution of age_in_years" in html and "most frequent values of purpose" in html
    assert '<td class="bad">Unexpected string values</td>' in html
    assert "stopped the run" in html


def test_figures_fetch_nothing(tmp_path: Path) -> None:
    svg = plots.training_curves(
        [0, 1, 2],
        {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.85]},
        [{"epoch": 1, "callback": "ElasticLearningRate"}],
        "loss",
    )
    assert svg.startswith("<svg") and "<title>loss</title>" in svg
    urls = set(re.findall(r"https?://[^\"' )]+", svg))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "<image" not in svg and "@font-face" not in svg


def test_two_runs_differ_by_their_figures(config, tmp_path: Path) -> None:
    first = _record(config, tmp_path, metrics={"overall": {"auc": 0.70}}, wall_time_s=100.0)
    second = _record(config, tmp_path, metrics={"overall": {"auc": 0.75}}, wall_time_s=90.0)
    rows = {row["label"]: row for row in differences(first, second)}
    assert rows["auc"]["delta"] == "+0.0500" and rows["wall time (s)"]["delta"] == "-10.0000"
    assert rows["blessed"]["delta"] == ""


def test_a_folder_without_a_run_is_named(tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match=str(tmp_path)):
        load_run(tmp_path)


def test_the_report_is_written_beside_the_summary(config, tmp_path: Path) -> None:
    summary = {**_record(config, tmp_path).summary, "config": json.loads(config.json())}
    (tmp_path / "run_summary.json").write_text(json.dumps(summary))
    path = write_report(tmp_path)
    assert path == tmp_path / "report" / "index.html"
    page = path.read_text()
    assert "Content-Security-Policy" in page and "<script" not in page


def test_the_model_card_section_shows_a_small_group_without_rates(config, tmp_path: Path) -> None:
    from aet.report.model_card import build_card

    metrics = {
        "overall": {"auc": 0.8, "example_count": 152.0},
        "foreign_worker=yes": {"auc": 0.8, "example_count": 146.0},
        "foreign_worker=no": {"auc": 1.0, "example_count": 6.0},
    }
    card = build_card(
        config, metrics=metrics, intervals={}, statistics={}, training=None, split="test",
        default_data=True, lineage={},
    )  # fmt: skip
    served = tmp_path / "serving" / "7" / "assets.extra"
    served.mkdir(parents=True)
    (served / "model_card.json").write_text(json.dumps(card))
    record = _record(config, tmp_path, pushed_model_dir=str(served.parent))
    html = sections.model_card(record).html
    assert "no <span" in html and '<td class="num">6</td><td class="num">—</td>' in html


def test_a_dollar_in_a_value_is_drawn_and_log_ticks_stay_numbers() -> None:
    svg = plots.top_values([("$5-$10", 3.0), ("$$", 1.0)], "price $band")
    assert "$5-$10" in svg and "price $band" in svg
    tail = plots.popularity_tail([100.0, 10.0, 1.0])
    shown = re.findall(r"<text[^>]*>([^<]*)</text>", tail)  # the text a browser draws
    assert shown and not [text for text in shown if "mathdefault" in text]
