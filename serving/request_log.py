"""A sample of the requests a client sent, kept for the serving-skew check.

TF Serving's open-source server logs no requests, so the client keeps them, when asked
(`ServingClient(request_log=...)`, `aet predict --log-requests DIR`): a share
`sample_rate` of the serialized tf.Examples that got an answer, written as TFRecords
to `DIR/requests-<time>-<pid>.tfrecord`. A run given that folder
(`aet run --serving-requests DIR`) compares their statistics with the training data's.

The file holds the requests as they were sent, users' values included: it stays where
the user put it, and nothing the run ships contains it. A file is written under a
`.partial` name and renamed when the log closes, so a killed client leaves no
half-written file where a run would read it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

LOG_PATTERN = "requests-*.tfrecord"  # what a run reads; `.partial` files are not read


class RequestLog:
    """Keeps each example with probability `sample_rate` (`seed` fixes the draw)."""

    def __init__(self, folder: str | Path, sample_rate: float = 1.0, seed: int | None = None):
        if not 0 < sample_rate <= 1:
            raise ValueError(
                f"the request log's sample rate is a share in (0, 1], not {sample_rate}"
            )
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self._random = random.Random(seed)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.path = self.folder / f"requests-{stamp}-{os.getpid()}-{id(self):x}.tfrecord"
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._writer: tf.io.TFRecordWriter | None = None
        self.kept = 0

    def record(self, examples: Sequence[bytes]) -> int:
        """Writes the sampled share of `examples`; returns how many it kept."""
        kept = [example for example in examples if self._random.random() < self.sample_rate]
        if kept and self._writer is None:
            self._writer = tf.io.TFRecordWriter(str(self._partial))
        for example in kept:
            self._writer.write(example)
        if kept:
            self._writer.flush()
        self.kept += len(kept)
        return len(kept)

    def close(self) -> None:
        """Completes the file (none is left when nothing was kept)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            os.replace(self._partial, self.path)

    def __enter__(self) -> RequestLog:
        return self

    def __exit__(self, *_) -> None:
        self.close()
