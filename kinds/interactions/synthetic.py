"""Synthetic histories for the warm-up requests and the serving check: as long as the
sample's, of items drawn at random from those the sample holds (catalogue entries, not
anyone's sequence: drawn again should one equal a sample's), with no user id, as a
client sends them."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.config import DomainConfig
from aet.config.contract import HISTORY_ITEMS
from aet.kinds.interactions.requests import history_example

MAX_DRAWS = 20


def synthetic_examples(config: DomainConfig, examples: list[bytes], seed: int) -> list[bytes]:
    """As many serialized examples as `examples`."""
    rng = np.random.default_rng(seed)
    histories = [
        list(
            tf.train.Example.FromString(serialized).features.feature[HISTORY_ITEMS].bytes_list.value
        )
        for serialized in examples
    ]
    items = sorted({item for history in histories for item in history}) or [b"0"]
    seen = {tuple(history) for history in histories}
    synthetic = []
    for history in histories:
        for _attempt in range(MAX_DRAWS):  # drawn again should it be a sample's history
            drawn = [items[i] for i in rng.integers(len(items), size=max(1, len(history)))]
            if tuple(drawn) not in seen:
                break
        synthetic.append(history_example({"history": [item.decode() for item in drawn]}))
    return synthetic
