"""The counters an elastic callback saves and restores, so a resumed run continues
where the interrupted one stopped."""

from __future__ import annotations

import numpy as np


class ResumableState:
    """Mixin: `get_state`/`set_state` over the attributes named in `STATE_KEYS`, and
    `get_arrays`/`set_arrays` over those in `ARRAY_KEYS` (lists of numpy arrays, such as
    remembered best weights, or None).

    Counters must be JSON-ready; what lives in model or optimizer variables (dropout
    rates, weight decay, learning rate, weights) is saved with the model and optimizer.
    """

    STATE_KEYS: tuple[str, ...] = ()
    ARRAY_KEYS: tuple[str, ...] = ()

    def get_state(self) -> dict:
        return {key: getattr(self, key) for key in self.STATE_KEYS}

    def set_state(self, state: dict) -> None:
        missing = sorted(set(self.STATE_KEYS) - set(state))
        if missing:
            raise ValueError(f"{type(self).__name__} state lacks {missing}")
        for key in self.STATE_KEYS:
            setattr(self, key, state[key])

    def get_arrays(self) -> dict[str, list[np.ndarray] | None]:
        return {key: getattr(self, key) for key in self.ARRAY_KEYS}

    def set_arrays(self, arrays: dict[str, list[np.ndarray] | None]) -> None:
        for key in self.ARRAY_KEYS:
            setattr(self, key, arrays.get(key))
