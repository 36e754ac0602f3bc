"""Synthetic warm-up histories: as long as the sample's, of the sample's items, no user
id, and none of the sample's sequences."""

from __future__ import annotations

import tensorflow as tf

from aet.config.contract import HISTORY_ITEMS, USER_ID
from aet.kinds.interactions.synthetic import synthetic_examples
from aet.pipelines.domains import load_domain


def _example(user: str, items: list[str]) -> bytes:
    feature = {
        USER_ID: tf.train.Feature(bytes_list=tf.train.BytesList(value=[user.encode()])),
        HISTORY_ITEMS: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[item.encode() for item in items])
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_histories_draw_the_samples_items_in_new_orders() -> None:
    config = load_domain("recommendation")
    histories = [[str(i) for i in range(start, start + 12)] for start in range(0, 80, 10)]
    sample = [_example(f"user-{n}", history) for n, history in enumerate(histories)]
    made = [tf.train.Example.FromString(e) for e in synthetic_examples(config, sample, 3)]
    sent = [
        [item.decode() for item in e.features.feature[HISTORY_ITEMS].bytes_list.value] for e in made
    ]
    assert all(set(e.features.feature) == {HISTORY_ITEMS} for e in made)
    assert [len(history) for history in sent] == [len(history) for history in histories]
    assert {item for history in sent for item in history} <= {i for h in histories for i in h}
    assert not {tuple(history) for history in sent} & {tuple(history) for history in histories}


def test_a_short_history_is_drawn_again_rather_than_copied() -> None:
    config = load_domain("recommendation")
    sample = [_example("user-0", ["a", "b"]), _example("user-1", ["b", "a"])]
    made = synthetic_examples(config, sample, 0)
    sent = {
        tuple(tf.train.Example.FromString(e).features.feature[HISTORY_ITEMS].bytes_list.value)
        for e in made
    }
    assert sent <= {(b"a", b"a"), (b"b", b"b")}
