"""The tabular kind's report section: the features the served answers rest on."""

from __future__ import annotations

from pathlib import Path

from aet.kinds.tabular.report import explanation_section
from aet.report.run_record import RunRecord

EXPLANATIONS = {
    "method": "integrated gradients",
    "explained_class": "bad",
    "steps": 64,
    "examples": 152,
    "baseline_probability": 0.064,
    "completeness_gap": {"mean": 0.0033, "max": 0.0276},
    "features": [
        {"feature": "checking", "mean_abs_attribution": 0.17, "mean_attribution": 0.169},
        {"feature": "purpose", "mean_abs_attribution": 0.044, "mean_attribution": -0.006},
    ],
}


def test_the_section_charts_and_lists_each_features_attribution(tmp_path: Path) -> None:
    summary = {"explanations": EXPLANATIONS}
    (section,) = explanation_section(RunRecord(run_dir=tmp_path, summary=summary, config=None))
    assert section.after == "evaluation"
    assert "<svg" in section.html and "what the answers rest on" in section.html
    assert '<td>checking</td><td class="num">0.1700</td><td class="num">+0.1690</td>' in (
        section.html
    )
    assert "of <b>bad</b>" in section.html and "0.0276 at most" in section.html


def test_no_explanations_no_section(tmp_path: Path) -> None:
    assert explanation_section(RunRecord(run_dir=tmp_path, summary={}, config=None)) == []
