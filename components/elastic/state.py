"""The counters an elastic callback saves and restores, so a resumed run continues
where the interrupted one stopped."""

from __future__ import annotations


class ResumableState:
    """Mixin: `get_state`/`set_state` over the attributes named in `STATE_KEYS`.

    Only JSON-ready counters belong here; what lives in variables (rates, weight decay,
    weights) is saved with the model and the optimizer.
    """

    STATE_KEYS: tuple[str, ...] = ()

    def get_state(self) -> dict:
        return {key: getattr(self, key) for key in self.STATE_KEYS}

    def set_state(self, state: dict) -> None:
        missing = sorted(set(self.STATE_KEYS) - set(state))
        if missing:
            raise ValueError(f"{type(self).__name__} state lacks {missing}")
        for key in self.STATE_KEYS:
            setattr(self, key, state[key])
