"""`serving.request_log`: the sample of answered requests a client keeps for the
serving-skew check."""

from __future__ import annotations

import pytest
import tensorflow as tf

from aet.serving.request_log import LOG_PATTERN, RequestLog


def _records(folder) -> list[bytes]:
    return [
        record.numpy()
        for path in sorted(folder.glob(LOG_PATTERN))
        for record in tf.data.TFRecordDataset(str(path))
    ]


def test_every_request_is_kept_by_default_and_the_file_completes_on_close(tmp_path) -> None:
    log = RequestLog(tmp_path)
    assert log.record([b"a", b"b"]) == 2 and log.record([b"c"]) == 1
    assert list(tmp_path.glob(LOG_PATTERN)) == []  # only a .partial file while it is open
    assert len(list(tmp_path.glob("*.partial"))) == 1
    log.close()
    assert _records(tmp_path) == [b"a", b"b", b"c"]
    assert list(tmp_path.glob("*.partial")) == []


def test_a_sample_rate_keeps_about_that_share(tmp_path) -> None:
    with RequestLog(tmp_path, sample_rate=0.2, seed=0) as log:
        kept = log.record([bytes([i % 250]) for i in range(2000)])
    assert 300 < kept < 500
    assert len(_records(tmp_path)) == kept == log.kept


def test_a_log_that_kept_nothing_leaves_no_file(tmp_path) -> None:
    RequestLog(tmp_path).close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate", [0.0, 1.5])
def test_a_sample_rate_outside_its_range_is_refused(tmp_path, rate) -> None:
    with pytest.raises(ValueError, match=r"share in \(0, 1\]"):
        RequestLog(tmp_path, sample_rate=rate)
