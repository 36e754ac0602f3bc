"""The run's log file: owner-only, and without the values of Beam options that may be
credentials, wherever a library puts them (message, arguments, traceback)."""

from __future__ import annotations

import logging
from pathlib import Path

from aet.pipelines.logs import MASK, Redactor, route_library_logs
from aet.pipelines.runners import beam_pipeline_args, secret_values

KEY = "AKIA-not-a-real-key-0123"


def test_only_the_values_of_options_that_may_be_credentials_are_secret() -> None:
    args = beam_pipeline_args(
        "flink",
        {"flink_master": "localhost:8081", "s3_secret_access_key": KEY},
        ["--direct_num_workers=2", "--service_account_key_file=/keys/sa.json", "--x=abc"],
    )
    assert secret_values(args) == [KEY, "/keys/sa.json"]  # "abc" is too short to be one


def test_the_log_is_owner_only_and_masks_secrets_everywhere(
    tmp_path: Path, isolated_logging
) -> None:
    log_file = tmp_path / "logs" / "run.log"
    route_library_logs(log_file, Redactor([KEY]))
    log = logging.getLogger("apache_beam.options.pipeline_options")
    log.warning("Discarding unparseable args: %s", [f"--s3_secret_access_key={KEY}"])
    log.info(f"beam_pipeline_args: --s3_secret_access_key={KEY}")
    try:
        raise RuntimeError(f"could not authenticate with {KEY}")
    except RuntimeError:
        log.exception("pipeline failed")
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = log_file.read_text()
    assert KEY not in text
    assert text.count(MASK) == 3  # in an argument, a message and an exception
    assert "Discarding unparseable args" in text and "RuntimeError" in text
    assert oct(log_file.stat().st_mode & 0o777) == oct(0o600)
    assert oct(log_file.parent.stat().st_mode & 0o777) == oct(0o700)


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    redact = Redactor(["abcd", "xxabcdyy"])
    assert redact("key=xxabcdyy and abcd") == f"key={MASK} and {MASK}"
