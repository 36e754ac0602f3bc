"""A recommender's `explain` answer as `aet predict --explain` prints it: each
recommended item with its score and the history items that led to it."""

from __future__ import annotations

import numpy as np


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="backslashreplace")


def recommendation_reasons(outputs: dict[str, np.ndarray]) -> list[dict]:
    """One record per history: the recommendations, best first, each with `because`
    (the history items that raised its score, most first), and what serving_default
    also says (unknown items dropped, popularity fallback)."""
    records = []
    for row, items in enumerate(outputs["items"]):
        recommendations = [
            {
                "item": _text(item),
                "score": round(float(outputs["scores"][row][slot]), 4),
                "because": [_text(name) for name in outputs["because"][row][slot] if name],
            }
            for slot, item in enumerate(items)
            if item
        ]
        records.append(
            {
                "recommendations": recommendations,
                "unknown_items": int(outputs["unknown_items"][row]),
                "fallback": bool(outputs["fallback"][row]),
            }
        )
    return records
