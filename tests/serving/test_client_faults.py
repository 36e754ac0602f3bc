"""The client against a server that misbehaves (tests/serving/chaos_server.py): every
fault is a typed ServingError, the call ends within its deadline, it is sent at most
retries + 1 times, and it waits as long as the server asks."""

from __future__ import annotations

import time

import pytest

from aet.serving.client import RetryBudget, ServingClient
from aet.serving.errors import (
    MalformedAnswerError,
    ServingTimeoutError,
    ServingUnavailableError,
)
from tests.serving.chaos_server import ChaosServer

INPUTS = {"x": [[1.0], [2.0]]}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("not_json", "not JSON"),
        ("empty", "no 'outputs'"),
        ("ragged", "is not a DT_FLOAT tensor"),
        ("wrong_dtype", "is not a DT_FLOAT tensor"),
        ("huge", "over max_response_bytes"),
    ],
)
def test_an_answer_the_client_cannot_use_is_malformed_and_not_retried(fault, message) -> None:
    with (
        ChaosServer([fault]) as server,
        ServingClient(server.url, "m", retries=3) as client,
        pytest.raises(MalformedAnswerError) as caught,
    ):
        client.predict(INPUTS)
    assert message in caught.value.message
    assert caught.value.attempts == 1 and len(server.arrivals) == 1


def test_a_body_larger_than_the_limit_is_refused_as_it_arrives() -> None:
    with ChaosServer(["ok"]) as server:
        client = ServingClient(server.url, "m", max_response_bytes=20)
        with client, pytest.raises(MalformedAnswerError, match="max_response_bytes=20"):
            client.predict({"x": [[1.0]] * 10})


def test_a_slow_drip_ends_within_the_timeout_and_the_deadline() -> None:
    with ChaosServer(["slow_drip"]) as server:
        client = ServingClient(server.url, "m", timeout_s=0.5, deadline_s=1.5, retries=5)
        started = time.monotonic()
        with client, pytest.raises(ServingTimeoutError) as caught:
            client.predict(INPUTS)
        took = time.monotonic() - started
    assert took < 1.5 + 0.5, took
    assert "deadline of 1.5 s" in caught.value.message
    assert 1 <= len(server.arrivals) <= 6


def test_the_deadline_covers_every_batch_and_retry() -> None:
    with ChaosServer(["retry_after"]) as server:
        client = ServingClient(server.url, "m", deadline_s=2.5, retries=10, batch_size=1)
        started = time.monotonic()
        with client, pytest.raises(ServingTimeoutError, match=r"deadline of 2\.5 s"):
            client.predict(INPUTS)
    assert time.monotonic() - started < 2.5 + 0.5
    assert len(server.arrivals) <= 3  # Retry-After: 1 between attempts


def test_retry_after_is_waited_for_before_the_next_attempt() -> None:
    with (
        ChaosServer(["retry_after", "ok"]) as server,
        ServingClient(server.url, "m", backoff_s=0.01) as client,
    ):
        outputs = client.predict(INPUTS)
    assert outputs["probability"].shape == (2, 1)
    first, second = server.arrivals
    assert second - first >= 1.0


def test_a_connection_reset_mid_answer_is_retried_then_unavailable() -> None:
    with (
        ChaosServer(["reset"]) as server,
        ServingClient(server.url, "m", retries=2, backoff_s=0.01) as client,
        pytest.raises(ServingUnavailableError) as caught,
    ):
        client.predict(INPUTS)
    assert "broke while the answer arrived" in caught.value.message
    assert caught.value.attempts == 3 == len(server.arrivals)
    assert not isinstance(caught.value, ServingTimeoutError)


def test_retries_draw_on_a_budget_that_requests_refill() -> None:
    """Against a server that is down for good, the first call spends the reserve; the
    next calls get a retry only once requests have earned one."""
    budget = RetryBudget(ratio=0.5, reserve=2)
    with (
        ChaosServer(["unavailable"]) as server,
        ServingClient(server.url, "m", retries=5, backoff_s=0.001, retry_budget=budget) as client,
    ):
        attempts = []
        for _ in range(4):
            with pytest.raises(ServingUnavailableError) as caught:
                client.predict(INPUTS)
            attempts.append(caught.value.attempts)
    assert attempts == [3, 1, 2, 1]  # 2 from the reserve; then one per two requests
    assert "retry budget is spent" in caught.value.message
    assert sum(attempts) == len(server.arrivals)
