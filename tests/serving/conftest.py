"""Fixtures for the serving tests: the session's real Transform run
(made once per session by tests/transform_fixture.py)."""

from __future__ import annotations

import pytest

from tests.transform_fixture import TransformRun, shared_transform_run


@pytest.fixture(scope="session")
def transform_run(tmp_path_factory, finance_config, german_credit_csv) -> TransformRun:
    return shared_transform_run(tmp_path_factory, finance_config, german_credit_csv)
