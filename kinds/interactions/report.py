"""The interaction-log kind's section of the run report: how long the users' histories
are (TFDV's quantiles of the values per example) and how long the item popularity tail
is (the training counts Transform stored)."""

from __future__ import annotations

import os
from pathlib import Path

from aet.config.contract import HISTORY_ITEMS
from aet.kinds.interactions.transform import ITEM_COUNTS
from aet.report import plots
from aet.report.rendering import render_fragment
from aet.report.run_record import RunRecord
from aet.report.sections import Section

TEMPLATE = Path(__file__).with_name("report.html.j2")


def _history_lengths(record: RunRecord) -> list[tuple[float, float]]:
    """(length, share of histories at most that long) on the training split."""
    statistics = record.statistics.get("train")
    feature = next(
        (f for f in (statistics.features if statistics else []) if f.path.step == [HISTORY_ITEMS]),
        None,
    )
    if feature is None or feature.WhichOneof("stats") is None:
        return []
    common = getattr(feature, feature.WhichOneof("stats")).common_stats
    buckets = common.num_values_histogram.buckets
    total = sum(bucket.sample_count for bucket in buckets)
    if not total:
        return []
    points, seen = [(buckets[0].low_value, 0.0)], 0.0
    for bucket in buckets:
        seen += bucket.sample_count
        points.append((bucket.high_value, seen / total))
    return points


def _item_counts(record: RunRecord) -> list[float]:
    folder = record.summary.get("transform_graph_dir")
    path = os.path.join(folder or "", "transform_fn", "assets", ITEM_COUNTS)
    if not folder or not os.path.isfile(path):
        return []
    with open(path) as lines:
        return [float(line.split(" ", 1)[0]) for line in lines if line.strip()]


def interaction_sections(record: RunRecord) -> list[Section]:
    lengths, counts = _history_lengths(record), _item_counts(record)
    if not lengths and not counts:
        return []
    figures = []
    if lengths:
        figures.append(plots.quantile_curve(lengths, "items in a history", "history lengths"))
    if counts:
        figures.append(plots.popularity_tail(counts))
    top = sorted(counts, reverse=True)
    share = sum(top[: max(len(top) // 10, 1)]) / sum(top) if top else None
    html = render_fragment(TEMPLATE.read_text(), figures=figures, items=len(counts), share=share)
    return [Section("interactions", "Histories and items", html, after="data")]
