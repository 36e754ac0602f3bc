"""The run's log file: where TF, TFX and Beam logging goes instead of the terminal.

It is owner-only (the folder 0700, each file 0600), and it never holds the values of
the Beam options that may carry credentials: TFX logs a pipeline's Beam args, Beam logs
the ones it does not know, and a storage key passed with `--beam-arg` would otherwise
sit in every run's log (`runners.secret_values` says which values are masked).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

MASK = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redactor:
    """Replaces each secret value wherever it appears in a text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    """Masks the secrets in the whole formatted record: message, arguments, traceback."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def route_library_logs(log_file: Path, redact: Redactor) -> None:
    """Sends TF/TFX/Beam logging to `log_file` (created owner-only), through `redact`;
    keeps the terminal for the run's own progress."""
    log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(log_file.parent, 0o700)
    os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(log_file, 0o600)
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(RedactingFormatter(redact))
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logging.get_absl_handler().setLevel(logging.CRITICAL + 1)
    import tensorflow as tf

    tf_logger = tf.get_logger()
    for handler in list(tf_logger.handlers):
        tf_logger.removeHandler(handler)
    tf_logger.propagate = True
