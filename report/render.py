"""The HTML page of one run, or of two side by side (`aet report RUN --compare OTHER`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aet.components.files import write_atomically
from aet.report.rendering import TEMPLATES, number
from aet.report.run_record import RunRecord, load_run
from aet.report.sections import Section, all_sections

REPORT_DIR = "report"
REPORT_FILE = "index.html"


@dataclass(frozen=True)
class ComparedSection:
    id: str
    title: str
    columns: list[str] = field(default_factory=list)


def _number(value) -> str:
    return number(value) if isinstance(value, float) or value is None else str(value)


def differences(first: RunRecord, second: RunRecord) -> list[dict]:
    """The figures two runs are compared on: status, blessing, wall time, epochs, and
    every overall metric either reports."""
    rows = []

    def add(label: str, a, b) -> None:
        numeric = isinstance(a, int | float) and isinstance(b, int | float)
        delta = f"{b - a:+.4f}" if numeric and not isinstance(a, bool) else ""
        rows.append({"label": label, "first": _number(a), "second": _number(b), "delta": delta})

    add("status", first.summary.get("status"), second.summary.get("status"))
    add("blessed", first.summary.get("blessed"), second.summary.get("blessed"))
    add("wall time (s)", first.summary.get("wall_time_s"), second.summary.get("wall_time_s"))
    epochs = [(run.summary.get("training") or {}).get("epochs_run") for run in (first, second)]
    add("epochs run", *epochs)
    overall = [(run.summary.get("metrics") or {}).get("overall", {}) for run in (first, second)]
    for name in sorted(set(overall[0]) | set(overall[1])):
        add(name, overall[0].get(name), overall[1].get(name))
    return rows


def render(record: RunRecord, other: RunRecord | None = None) -> str:
    """The page: one run's sections, or each section of two runs in two columns."""
    sections: list[Section] = list(all_sections(record))
    if other is None:
        return TEMPLATES.get_template("report.html.j2").render(
            title=f"aet run report: {record.name}",
            subtitle=f"{record.run_dir}",
            sections=sections,
            differences=None,
            names=[record.name],
        )
    others = {section.id: section for section in all_sections(other)}
    mine = {section.id: section for section in sections}
    ids = [*mine, *(section_id for section_id in others if section_id not in mine)]
    compared = [
        ComparedSection(
            id=section_id,
            title=(mine.get(section_id) or others[section_id]).title,
            columns=[
                mine[section_id].html if section_id in mine else "",
                others[section_id].html if section_id in others else "",
            ],
        )
        for section_id in ids
    ]
    return TEMPLATES.get_template("report.html.j2").render(
        title=f"aet run report: {record.name} against {other.name}",
        subtitle=f"{record.run_dir}  |  {other.run_dir}",
        sections=compared,
        differences=differences(record, other),
        names=[str(record.run_dir), str(other.run_dir)],
    )


def write_report(run_dir: str | Path, compare: str | Path | None = None) -> Path:
    """Writes `<run_dir>/report/index.html` (with `compare`: `compare-<other>.html`
    beside it) and returns its path."""
    record = load_run(run_dir)
    other = load_run(compare) if compare else None
    folder = Path(run_dir) / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = REPORT_FILE if other is None else f"compare-{Path(compare).resolve().name}.html"
    path = folder / name
    write_atomically(str(path), render(record, other))
    return path
