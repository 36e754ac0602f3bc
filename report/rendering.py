"""What the report's pages and the model card share: the Jinja environment over
report/templates/, and when a group of held-out examples is large enough to judge.
Kept apart from the plots so that the serving check, which writes model cards, loads
no plotting library."""

from __future__ import annotations

import os

import jinja2
from markupsafe import Markup

# Fewer held-out examples than this in a slice and its metrics are shown but not judged
# (a 6-example slice's AUC says nothing; one example has none at all), and the model
# card gives only its count.
MIN_SLICE_EXAMPLES = 30


def judged(values: dict) -> bool:
    """Whether a slice's metrics (with its `example_count`) are from enough examples."""
    return (values.get("example_count") or 0) >= MIN_SLICE_EXAMPLES


# How the report and the model card name `evaluation.confidence_intervals`.
INTERVAL_NAMES = {
    "bootstrap": "TFMA's Poisson bootstrap, 20 resamples",
    "jackknife": "TFMA's delete-d jackknife, 20 buckets",
}


def number(value) -> str:
    """A metric as the report prints it: four decimals, a dash where there is none (a
    group too small to judge has no rates in the model card)."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "—"
    return f"{value:.4f}"


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("aet.report", "templates"),
    # HTML is escaped (a section from a string too); the model card's Markdown is not.
    autoescape=lambda name: name is None or name.endswith(".html.j2"),
    undefined=jinja2.ChainableUndefined,  # a failed run's summary lacks what it never reached
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["number"] = number
TEMPLATES.filters["basename"] = lambda path: os.path.basename(str(path).rstrip("/"))


def render_fragment(template: str, **context) -> Markup:
    """HTML from a template string (a kind's own report sections use this)."""
    return Markup(TEMPLATES.from_string(template).render(**context))
