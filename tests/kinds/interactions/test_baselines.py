"""The baselines a recommender is compared with: counts worked out by hand."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from aet.kinds.interactions.baselines import (
    NEIGHBOURS,
    POPULARITY_TIE_BREAK,
    Baselines,
    baseline_scores,
    fit_followers,
)


def test_followers_count_items_within_the_window_after_each_item() -> None:
    # Ids 1..5; 0 pads. 1 is followed by 2, 3, 4 (window 3) in the first sequence and by
    # 2 again in the second: C[1] = {2: 2, 3: 1, 4: 1}.
    sequences = [np.array([1, 2, 3, 4, 0]), np.array([1, 2])]
    followers, counts = fit_followers(sequences, num_ids=7)
    assert followers.shape == (7, NEIGHBOURS)
    assert followers[1][:3].tolist() == [2, 3, 4] and counts[1][:3].tolist() == [2, 1, 1]
    assert counts[1][3:].sum() == 0
    assert followers[4].sum() == 0 and counts[4].sum() == 0  # nothing after the last item
    assert counts[0].sum() == 0  # padding follows nothing and is followed by nothing


def test_co_occurrence_scores_what_followed_the_users_last_items() -> None:
    followers = np.zeros((6, NEIGHBOURS), np.int64)
    counts = np.zeros((6, NEIGHBOURS), np.float32)
    followers[2, :2], counts[2, :2] = [3, 4], [5, 1]
    followers[1, :1], counts[1, :1] = [4], [2]
    popularity = np.array([0, 10, 8, 6, 4, 2], np.float32)
    baselines = Baselines(popularity, followers, counts)
    history = tf.constant([[1, 2, 0, 0], [0, 0, 0, 0]], tf.int64)
    scores = {k: v.numpy() for k, v in baseline_scores(history, baselines).items()}
    tie_break = POPULARITY_TIE_BREAK * popularity / popularity.max()
    np.testing.assert_allclose(scores["most_popular"][1], popularity / 10)
    np.testing.assert_allclose(scores["co_occurrence"][0], np.array([0, 0, 0, 5, 3, 0]) + tie_break)
    # No history: nothing co-occurs, popularity alone orders the items.
    np.testing.assert_allclose(scores["co_occurrence"][1], tie_break)
