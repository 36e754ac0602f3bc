"""The interaction-log kind's report section: history lengths from TFDV's quantiles and
the item popularity tail from the counts Transform stored."""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import statistics_pb2

from aet.kinds.interactions.report import interaction_sections
from aet.report.run_record import RunRecord


def test_history_lengths_and_the_popularity_tail_are_drawn(tmp_path: Path) -> None:
    statistics = statistics_pb2.DatasetFeatureStatistics(num_examples=100)
    history = statistics.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
    history.path.step.append("history_items")
    lengths = history.num_stats.common_stats.num_values_histogram
    for low, high in ((1, 5), (5, 20), (20, 50)):
        lengths.buckets.add(low_value=low, high_value=high, sample_count=100 / 3)
    assets = tmp_path / "transform" / "transform_fn" / "assets"
    assets.mkdir(parents=True)
    counts = [90, 5, 1, 1, 1, 1, 1, 0, 0, 0]  # the top tenth (one item) takes 90 %
    (assets / "item_counts").write_text("".join(f"{c} item{i}\n" for i, c in enumerate(counts)))
    record = RunRecord(
        run_dir=tmp_path,
        summary={"transform_graph_dir": str(tmp_path / "transform")},
        config=None,
        statistics={"train": statistics},
    )
    (section,) = interaction_sections(record)
    assert section.html.count("<svg") == 2
    assert "history lengths" in section.html and "item popularity (10 items)" in section.html
    assert "takes <b>90%</b> of the training interactions" in section.html


def test_a_run_that_stopped_before_transform_has_no_such_section(tmp_path: Path) -> None:
    record = RunRecord(run_dir=tmp_path, summary={}, config=None)
    assert interaction_sections(record) == []
