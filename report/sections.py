"""The report's sections, each built from a `RunRecord`: overview, data, training,
evaluation and serving for every run, then whatever the run's data kind adds
(`DataKind.report_sections`: heat maps for images, say).

A section is an id, a title and an HTML fragment rendered from its template under
report/templates/sections/. Numbers the browser test compares with the run summary
carry a `data-summary` attribute: their path in the summary, keys joined by "|".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup
from tensorflow_metadata.proto.v0 import statistics_pb2

from aet.config.contract import SERVING_EXTRAS
from aet.config.metrics import METRICS, split_label
from aet.report import plots
from aet.report.model_card import CARD_JSON
from aet.report.rendering import INTERVAL_NAMES, MIN_SLICE_EXAMPLES, TEMPLATES, judged
from aet.report.run_record import RunRecord, read_file

STANDARD_HISTOGRAM = statistics_pb2.Histogram.HistogramType.STANDARD


@dataclass(frozen=True)
class Section:
    """One part of the page; a data kind's own section names the common section it
    belongs after (`after`), or comes last."""

    id: str
    title: str
    html: Markup
    after: str | None = None


def _section(section_id: str, title: str, **context) -> Section:
    html = TEMPLATES.get_template(f"sections/{section_id}.html.j2").render(**context)
    return Section(section_id, title, Markup(html))


def baselines_beside(overall: dict[str, float]) -> list[str]:
    """The baselines scored beside the model ('ndcg[most_popular]' names one; a class's
    own 'auc[class=x]' does not), in order."""
    groups = {split_label(label)[1] for label in overall}
    return sorted(group for group in groups if group and not group.startswith("class="))


def overview(record: RunRecord) -> Section:
    summary = record.summary
    overall = (summary.get("metrics") or {}).get("overall", {})
    beside = baselines_beside(overall)
    own = {label: value for label, value in overall.items() if split_label(label)[1] not in beside}
    thresholds = record.config.evaluation.thresholds if record.config else {}
    checks = []
    for name, bound in thresholds.items():
        key = METRICS[name].tfma_name
        value = overall.get(key)
        passed = value is not None and (
            (bound.lower is None or value >= bound.lower)
            and (bound.upper is None or value <= bound.upper)
        )
        checks.append({"name": key, "value": value, "bound": bound, "passed": passed})
    components = summary.get("components", {})
    seconds = summary.get("component_seconds", {})
    timed = [name for name in components if seconds.get(name) is not None]
    chart = (
        plots.bars(
            [f"{name} (cached)" if components[name] == "cached" else name for name in timed],
            [seconds[name] for name in timed],
            "seconds",
            "wall time per component",
        )
        if timed
        else None
    )
    failed = [name for name, state in components.items() if state in ("failed", "running")]
    return _section(
        "overview",
        "Overview",
        summary=summary,
        overall=own,
        all_metrics=overall,
        beside=beside,
        baseline=summary.get("baseline_metrics") or {},
        # Like the evaluation's, a split too small to judge gets no interval either.
        intervals=(summary.get("metric_intervals") or {}).get("overall", {}) if judged(own) else {},
        checks=checks,
        failed=failed,
        chart=chart,
    )


def _feature_rows(record: RunRecord, split: str) -> list[dict]:
    statistics = record.statistics[split]
    schema = {feature.name: feature for feature in record.schema.feature} if record.schema else {}
    anomalies = record.anomalies.get(split)
    rows = []
    for feature in statistics.features:
        name = ".".join(feature.path.step) or feature.name
        kind = feature.WhichOneof("stats")
        row = {"name": name, "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)}
        if kind == "num_stats":
            stats = feature.num_stats
            common = stats.common_stats
            row.update(mean=stats.mean, std=stats.std_dev, min=stats.min, max=stats.max)
            standard = [h for h in stats.histograms if h.type == STANDARD_HISTOGRAM]
            if standard and standard[0].buckets:
                buckets = standard[0].buckets
                row["plot"] = plots.histogram(
                    [(b.low_value, b.high_value) for b in buckets],
                    [b.sample_count for b in buckets],
                    name,
                )
        elif kind == "string_stats":
            stats = feature.string_stats
            common = stats.common_stats
            row["unique"] = stats.unique
            top = [(value.value, value.frequency) for value in stats.top_values]
            if top:
                row["plot"] = plots.top_values(top, name)
        else:
            common = getattr(feature, kind).common_stats if kind else None
        if common is not None:
            total = common.num_non_missing + common.num_missing
            row["missing"] = common.num_missing / total if total else 0.0
            if common.max_num_values > 1:
                row["values_per_example"] = (common.min_num_values, common.max_num_values)
        row["constraints"] = _constraints(schema.get(name), record.schema)
        info = anomalies.anomaly_info.get(name) if anomalies else None
        row["anomaly"] = info.short_description if info else None
        rows.append(row)
    return rows


def _constraints(feature, schema) -> str:
    """What the schema requires of a feature, in words."""
    if feature is None:
        return ""
    parts = []
    if feature.HasField("presence") and feature.presence.min_fraction:
        parts.append(f"present in ≥{feature.presence.min_fraction:.0%}")
    domain = feature.WhichOneof("domain_info")
    if domain in ("int_domain", "float_domain"):
        bounds = getattr(feature, domain)
        low = f"{bounds.min:g}" if bounds.HasField("min") else ""
        high = f"{bounds.max:g}" if bounds.HasField("max") else ""
        if low or high:
            parts.append(f"{low or '…'}..{high or '…'}")
    elif domain in ("string_domain", "domain"):
        values = (
            feature.string_domain.value
            if domain == "string_domain"
            else next((d.value for d in schema.string_domain if d.name == feature.domain), [])
        )
        parts.append(f"one of {len(values)} known values")
    return ", ".join(parts)


def data(record: RunRecord) -> Section:
    order = list(record.config.data.splits) if record.config else []
    splits = {
        split: record.statistics[split].num_examples
        for split in sorted(record.statistics, key=lambda s: order.index(s) if s in order else 99)
    }
    train = "train" if "train" in record.statistics else next(iter(record.statistics), None)
    anomalies = {
        split: {name: info.short_description for name, info in found.anomaly_info.items()}
        for split, found in record.anomalies.items()
    }
    gate = record.summary.get("components", {}).get("AnomaliesGate")
    return _section(
        "data",
        "Data",
        splits=splits,
        train=train,
        features=_feature_rows(record, train) if train else [],
        anomalies=anomalies,
        gate=gate,
        ingestion=record.summary.get("ingestion"),
    )


# Drawn on their own: the elastic callbacks' learning rate, regularisation and stage.
ALONE = ("learning_rate", "dropout_rate", "weight_decay", "unfreezing_stage")


def _curve_groups(history: dict[str, list[float]]) -> list[tuple[str, dict[str, list[float]]]]:
    """Curves drawn together: each metric with its validation twin, the learning rate,
    the regularisation, and the attention entropy of every head."""
    groups: list[tuple[str, dict[str, list[float]]]] = []
    for name in history:
        if name.startswith("val_") or "/" in name or name in ALONE:
            continue
        pair = {name: history[name]}
        if f"val_{name}" in history:
            pair[f"val_{name}"] = history[f"val_{name}"]
        groups.append((name, pair))
    for name in ALONE:
        if name in history:
            groups.append((name, {name: history[name]}))
    heads = {name: values for name, values in history.items() if name.startswith("attention_")}
    if heads:
        groups.append(("attention entropy per head", heads))
    return groups


def training(record: RunRecord) -> Section:
    summary_training = record.summary.get("training") or {}
    events = summary_training.get("events", [])
    curves = []
    if record.history:
        history = record.history["history"]
        epochs = list(range(record.history["epochs_run"]))
        for title, series in _curve_groups(history):
            shown = [
                event
                for event in events
                if title == "loss"
                or event.get("what") == title
                or (title.startswith("attention") and event["callback"] == "AttentionMonitor")
            ]
            curves.append(plots.training_curves(epochs, series, shown, title))
    return _section(
        "training",
        "Training",
        training=summary_training,
        events=events,
        curves=curves,
        tuning=record.summary.get("tuning"),
    )


def evaluation(record: RunRecord) -> Section:
    metrics = record.summary.get("metrics") or {}
    names = sorted({name for values in metrics.values() for name in values} - {"example_count"})
    intervals = record.summary.get("metric_intervals") or {}
    slices = [
        {
            "name": name,
            "count": values.get("example_count"),
            "values": values,
            "intervals": intervals.get(name, {}),
            "judged": judged(values),
        }
        for name, values in metrics.items()
    ]
    curves, matrix = record.summary.get("curves"), record.summary.get("confusion_matrix")
    chart = None
    if curves:
        chart = plots.classifier_curves(curves, metrics.get("overall", {}).get("auc"))
    elif matrix:
        chart = plots.confusion_matrix(matrix["classes"], matrix["counts"])
    return _section(
        "evaluation",
        "Evaluation",
        chart=chart,
        names=names,
        slices=slices,
        minimum=MIN_SLICE_EXAMPLES,
        interval_method=INTERVAL_NAMES.get(record.config.evaluation.confidence_intervals)
        if intervals and record.config
        else None,
        summary=record.summary,
    )


def serving(record: RunRecord) -> Section:
    summary = record.summary
    models_config = (summary.get("server_config") or {}).get("models_config")
    content = read_file(models_config) if models_config else None
    entry = content.decode() if content is not None else None
    return _section(
        "serving",
        "Serving",
        check=summary.get("serving_check"),
        pushed=summary.get("pushed_model_dir"),
        not_pushed=summary.get("not_pushed_because"),
        models_config=entry,
    )


def spans(record: RunRecord) -> Section:
    """The output's spans, one row per run: drift against the span before, what was
    trained, the served and the new model's score on the span, the push; and this
    run's distance per feature from the span before (and from the served model's
    training span, where that is older), and of the logged requests from
    the training split (serving skew)."""
    history = record.spans
    metric = history[-1]["metric"]
    chart = plots.span_scores(
        [entry["span"] for entry in history],
        [entry["served"] for entry in history],
        [entry["new"] for entry in history],
        metric,
    )
    measures = {
        "jensen_shannon_divergence": "Jensen-Shannon divergence",
        "l_infinity": "L-infinity",
    }
    return _section(
        "spans",
        "Spans",
        history=history,
        metric=metric,
        chart=chart,
        drift=record.summary.get("drift"),
        drift_from_training=record.summary.get("drift_from_training"),
        skew=record.summary.get("skew"),
        measures=measures,
    )


def model_card(record: RunRecord) -> Section | None:
    """The card the pushed version carries, if a version was pushed."""
    pushed = record.summary.get("pushed_model_dir")
    content = read_file(os.path.join(pushed, SERVING_EXTRAS, CARD_JSON)) if pushed else None
    if content is None:
        return None
    return _section("model_card", "Model card", card=json.loads(content))


def _common_sections(record: RunRecord) -> Iterable[Section]:
    yield overview(record)
    if record.statistics:
        yield data(record)
    if record.summary.get("training") or record.summary.get("tuning"):
        yield training(record)
    if record.summary.get("metrics"):
        yield evaluation(record)
    if record.spans:
        yield spans(record)
    yield serving(record)
    card = model_card(record)
    if card is not None:
        yield card


def all_sections(record: RunRecord) -> list[Section]:
    """The common sections, with the data kind's own each placed after the one it names
    (several after one section keep the kind's order)."""
    sections = list(_common_sections(record))
    if record.config is not None:
        from aet.config.kinds import kind_of

        last_after: dict[str, str] = {}  # anchor -> the kind's section placed last after it
        for section in kind_of(record.config).report_sections(record):
            ids = [placed.id for placed in sections]
            anchor = last_after.get(section.after, section.after)
            place = ids.index(anchor) + 1 if anchor in ids else len(sections)
            sections.insert(place, section)
            last_after[section.after] = section.id
    return sections
