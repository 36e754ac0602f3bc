"""The spans of an output folder: which batches of data it has run on, in order, and
what each run made of its span.

Every local `aet run` stages its data as the next span under `<output>/spans/`: a
folder `span-NNNN/` linking to the data (a file or folder, or what a plug-in kind
ingested), never a copy. Data the output has seen before (the same files, unchanged)
is the span it was. A user's folder of spans (`span-01/`, `span-02/`, ...) keeps its
own numbers; `aet run --data NEW` into the same output makes NEW the next span.

`spans.json` lists the staged spans; `history.jsonl` gets one line per span run: the
drift found against the span before, the served model's score on the new span before
retraining, the new model's, and whether it was pushed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from aet.components.files import write_atomically
from aet.components.spans import SPAN_FOLDER, SpanInput
from aet.config import DomainConfig
from aet.config.metrics import METRICS
from aet.report.run_record import SPAN_HISTORY

SPANS_DIR, HISTORY_FILE = os.path.split(SPAN_HISTORY)
REGISTRY_FILE = "spans.json"
USER_SPAN = re.compile(r"^span-(\d+)$")  # a user's span folders: span-1, span-01, ...


class SpanError(ValueError):
    """The data cannot be taken as the span asked for; the message says why."""


@dataclass(frozen=True)
class StagedSpan:
    span: int
    source: str  # the user's data path
    input: str  # what the span's folder links to (the data, or a plug-in's ingestion)
    fingerprint: str  # names, sizes and modification times of the input's files


def user_spans(path: Path) -> list[tuple[int, Path]]:
    """A folder of spans' `span-NN/` sub-folders, oldest first; [] for other data."""
    if not path.is_dir():
        return []
    found = [
        (int(match.group(1)), child)
        for child in path.iterdir()
        if child.is_dir() and (match := USER_SPAN.match(child.name))
    ]
    numbers = [number for number, _ in found]
    duplicated = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicated:
        raise SpanError(
            f"{path}: more than one folder is span {duplicated[0]} (e.g. span-1, span-01)"
        )
    return sorted(found)


def fingerprint(path: Path) -> str:
    """What identifies the data at `path`: its files' names, sizes and modification
    times (content changed in place is a new span, as for ExampleGen's fingerprint)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    identity = [
        (str(p.relative_to(path.parent)), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    ]
    return hashlib.sha256(json.dumps([str(path), identity]).encode()).hexdigest()[:16]


def spans_root(output: Path) -> Path:
    return output / SPANS_DIR


def staged_spans(output: Path) -> list[StagedSpan]:
    registry = spans_root(output) / REGISTRY_FILE
    if not registry.is_file():
        return []
    return [StagedSpan(**entry) for entry in json.loads(registry.read_text())]


def stage_span(
    output: Path, source: str, pipeline_input: str, number: int | None = None
) -> SpanInput:
    """The span `pipeline_input` is in `output`: the one it was staged as before, else a
    new one, numbered `number` (a user's span folder) or after the newest. A span's
    number never changes meaning: new data cannot take an old span's number, nor come
    before the newest span."""
    path = Path(pipeline_input)
    mark = fingerprint(path)
    spans = staged_spans(output)
    same = [s for s in spans if s.input == pipeline_input and s.fingerprint == mark]
    if same and (number is None or same[0].span == number):
        return SpanInput(str(spans_root(output)), same[0].span)
    newest = max((s.span for s in spans), default=0)
    if number is None:
        number = newest + 1
    taken = [s for s in spans if s.span == number]
    if taken:
        raise SpanError(
            f"{source}: span {number} of this output was {taken[0].source}, and this data is "
            "not that data (other files, or files changed since); give the new data the "
            f"next span number ({newest + 1}) or use another --output"
        )
    if number < newest:
        raise SpanError(
            f"{source}: span {number} is older than span {newest}, the newest this output has "
            "run; spans run in order, so new data takes a number after it"
        )
    _link(spans_root(output) / SPAN_FOLDER.format(number), path)
    staged = StagedSpan(number, source, pipeline_input, mark)
    write_atomically(
        str(spans_root(output) / REGISTRY_FILE),
        json.dumps([asdict(s) for s in [*spans, staged]], indent=2),
    )
    return SpanInput(str(spans_root(output)), number)


def _link(folder: Path, data: Path) -> None:
    """`folder` shows the data's files: a link to a data folder, or a folder holding a
    link to a single file."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.is_symlink() or folder.exists():
        if folder.is_symlink():
            folder.unlink()
        else:
            for child in folder.iterdir():
                child.unlink()
            folder.rmdir()
    if data.is_dir():
        folder.symlink_to(data, target_is_directory=True)
    else:
        folder.mkdir()
        (folder / data.name).symlink_to(data)


def record_span_run(output: Path, entry: dict) -> None:
    """Appends one span run's line to the history (a re-run of a span adds a line)."""
    history = spans_root(output) / HISTORY_FILE
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def span_history(output: Path) -> list[dict]:
    history = spans_root(output) / HISTORY_FILE
    if not history.is_file():
        return []
    return [json.loads(line) for line in history.read_text().splitlines() if line.strip()]


DRIFT_STOPPED = "drift_stopped"


def judged_metric(config: DomainConfig) -> str:
    """The metric a span's line reports: the one a new model must not lose on against
    the served one (the first change threshold), else the first gated or listed one."""
    evaluation = config.evaluation
    name = next(iter([*evaluation.change_thresholds, *evaluation.thresholds, *evaluation.metrics]))
    return METRICS[name].tfma_name


def span_entry(config: DomainConfig, summary: dict) -> dict:
    """What the history keeps of one span run, from its summary."""
    if summary["components"].get("DriftGate") == "failed":
        status = DRIFT_STOPPED
    else:
        status = summary["status"]
    metric = judged_metric(config)
    events = (summary.get("training") or {}).get("events", [])
    return {
        "span": summary["span"],
        "source": summary["data"],
        "run_id": summary.get("run_id"),
        "status": status,
        "trained_on": summary.get("trained_on_spans", []) if status == "succeeded" else [],
        "warm_started": any(event["callback"] == "WarmStart" for event in events),
        "epochs": (summary.get("training") or {}).get("epochs_run"),
        "fit_s": (summary.get("training") or {}).get("fit_seconds"),
        "drift": _drift_entry(summary.get("drift")),
        "drift_from_training": _drift_entry(summary.get("drift_from_training")),
        "metric": metric,
        "served": (summary.get("baseline_metrics") or {}).get(metric),
        "new": summary["metrics"].get("overall", {}).get(metric),
        "blessed": summary["blessed"],
        "pushed": summary["pushed_model_dir"],
        "trainer_s": summary["component_seconds"].get("Trainer"),
    }


def _drift_entry(drift: dict | None) -> dict | None:
    if drift is None:
        return None
    return {
        "against_span": drift["against_span"],
        "drifted": drift["drifted"],
        "largest": largest_drift(drift),
    }


def newest_span_run(history: list[dict]) -> int | None:
    """The newest span the output ran to the end (drift-stopped or not), so that a span
    whose run failed is still new when it is run again (and warm-starts as one)."""
    return max((entry["span"] for entry in history if entry["status"] != "failed"), default=None)


def served_span(history: list[dict]) -> int | None:
    """The newest span the served model trained on: of the last span run that pushed."""
    pushed = [entry for entry in history if entry.get("pushed") and entry.get("trained_on")]
    return max(pushed[-1]["trained_on"]) if pushed else None


def largest_drift(drift: dict) -> dict | None:
    """The compared feature closest to (or furthest past) its threshold."""
    features = drift["features"]
    if not features:
        return None
    name = max(features, key=lambda f: features[f]["value"] / features[f]["threshold"])
    return {"feature": name, **features[name]}


def span_line(entry: dict) -> str:
    """One line per span: drift, what was trained, the served and new scores, the push."""
    parts = [f"span {entry['span']}:"]
    drift = entry["drift"]
    if drift is None:
        parts.append("no drift check (no span before it);")
    elif drift["drifted"]:
        parts.append(f"drifted from span {drift['against_span']} in {', '.join(drift['drifted'])};")
    else:
        largest = drift["largest"]
        closest = (
            f" (closest: {largest['feature']} {largest['value']:.3f} of {largest['threshold']:g})"
            if largest
            else ""
        )
        parts.append(f"no drift from span {drift['against_span']}{closest};")
    served = entry.get("drift_from_training")
    if served and served["drifted"]:
        parts.append(
            f"drifted from span {served['against_span']} (the served model's data) in "
            f"{', '.join(served['drifted'])};"
        )
    if entry["status"] == DRIFT_STOPPED:
        parts.append("stopped by drift.policy stop, nothing trained")
        return " ".join(parts)
    if entry["status"] == "failed":
        parts.append("the run failed")
        return " ".join(parts)
    trained = ", ".join(str(span) for span in entry["trained_on"])
    start = "warm-started" if entry["warm_started"] else "from scratch"
    parts.append(f"trained on span(s) {trained} ({start});")
    metric = entry["metric"]
    if entry["new"] is not None:
        served = f"served {entry['served']:.4f} -> " if entry["served"] is not None else ""
        parts.append(f"{metric} {served}new {entry['new']:.4f} on this span;")
    parts.append(f"pushed {entry['pushed']}" if entry["pushed"] else "not pushed")
    return " ".join(parts)
