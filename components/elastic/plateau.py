"""What counts as an improvement of a monitored metric, for every callback that waits
for a plateau."""

from __future__ import annotations

import math


def improves(current: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Whether `current` beats `best` by more than `min_delta` in the direction `mode`
    ('min' or 'max'); any number (not NaN) improves on no best yet."""
    if best is None:
        return not math.isnan(current)
    if mode == "min":
        return current < best - min_delta
    return current > best + min_delta
