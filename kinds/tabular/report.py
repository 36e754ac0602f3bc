"""The tabular kind's section of the run report: which features the served model's
answers rest on across held-out rows (the Explanations component's mean absolute
integrated-gradient attribution per feature)."""

from __future__ import annotations

from pathlib import Path

from aet.report import plots
from aet.report.rendering import render_fragment
from aet.report.run_record import RunRecord
from aet.report.sections import Section

TEMPLATE = Path(__file__).with_name("explanations.html.j2")
PLOTTED = 15  # features in the bar chart, most important first


def explanation_section(record: RunRecord) -> list[Section]:
    explanations = record.summary.get("explanations") or {}
    features = explanations.get("features")
    if not features:
        return []
    shown = features[:PLOTTED]
    chart = plots.bars(
        [feature["feature"] for feature in shown],
        [feature["mean_abs_attribution"] for feature in shown],
        "mean |attribution| (probability)",
        "what the answers rest on",
    )
    html = render_fragment(TEMPLATE.read_text(), explanations=explanations, chart=chart)
    return [Section("explanations", "Explanations", html, after="evaluation")]
