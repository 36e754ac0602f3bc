"""aet.serving.client against the stand-in server (a real SavedModel, exported as the Trainer
exports it, answering over REST and gRPC): outputs identical to the model called in
process, batching, what is retried and what is not, typed errors, versions and TLS."""

from __future__ import annotations

import socket
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from aet.pipelines.domains import load_domain
from aet.serving.client import ServingClient
from aet.serving.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    ServerError,
    ServingTimeoutError,
    ServingTlsError,
    ServingUnavailableError,
)
from aet.serving.requests import examples_from_records
from tests.serving.stand_in_server import StandInServer, write_self_signed_certificate
from tests.transform_fixture import to_example

MODEL = "finance_risk"
ROWS = 10
FAST = {"backoff_s": 0.01}  # retries without the production back-off


@pytest.fixture(scope="module")
def examples(transform_run) -> np.ndarray:
    """Raw held-in rows without their label, as a client sends them."""
    label = transform_run.config.features.label.name
    rows = [
        {name: value for name, value in row.items() if name != label}
        for row in transform_run.train_rows[:ROWS]
    ]
    return examples_from_records(transform_run.config, rows)


@pytest.fixture(scope="module")
def labelled_examples(transform_run) -> np.ndarray:
    """The rows with their label, as ExampleGen wrote them: what `transform_features` parses
    (serving/requests.py sends the model's inputs only)."""
    return np.array([to_example(row) for row in transform_run.train_rows[:ROWS]], dtype=object)


@pytest.fixture(scope="module")
def in_process(serving_model_dir):
    """The exported model loaded and called in this process, no server in between."""
    return tf.saved_model.load(serving_model_dir).signatures


def _expected(in_process, examples: np.ndarray, signature: str = "serving_default") -> dict:
    outputs = in_process[signature](examples=tf.constant(examples, tf.string))
    return {name: tensor.numpy() for name, tensor in outputs.items()}


@pytest.fixture
def server(serving_model_dir):
    with StandInServer(serving_model_dir, MODEL, version=1, labels={"stable": 1}) as server:
        yield server


@pytest.fixture(params=["rest", "grpc"])
def url(request, server) -> str:
    return server.rest_url if request.param == "rest" else server.grpc_url


def _transport(url: str) -> str:
    return "grpc" if url.startswith("grpc") else "rest"


def test_outputs_are_identical_to_the_model_called_in_process(server, url, examples, in_process):
    with ServingClient(url, MODEL) as client:
        served = client.predict_examples(examples)

    expected = _expected(in_process, examples)
    assert set(served) == {"probability"}
    assert served["probability"].dtype == np.float32
    np.testing.assert_array_equal(served["probability"], expected["probability"])
    assert np.ptp(expected["probability"]) > 0  # rows told apart: order would show
    assert [(r.transport, r.model, r.rows) for r in server.received] == [
        (_transport(url), MODEL, ROWS)
    ]


def test_every_output_and_dtype_of_a_multi_output_signature(url, labelled_examples, in_process):
    """transform_features: many named outputs of several dtypes (REST: no bare value)."""
    with ServingClient(url, MODEL) as client:
        served = client.predict_examples(labelled_examples, signature_name="transform_features")

    expected = _expected(in_process, labelled_examples, "transform_features")
    assert set(served) == set(expected) and len(expected) > 1
    for name, value in expected.items():
        assert served[name].dtype == value.dtype, name
        np.testing.assert_array_equal(served[name], value, err_msg=name)


def test_string_int_and_bool_outputs_come_back_as_the_model_gave_them(toy_ranking_model_dir):
    histories = [
        {"history": ["7", "42", "1008", "3"], "exclude": ["7"]},
        {"history": []},
        {"history": [5, "ünïcode"], "exclude": ["a", "b"]},
    ]
    examples = examples_from_records(load_domain("recommendation"), histories)
    assert examples[1].endswith(b"\x00")  # lost in a fixed-width numpy bytes array
    toy = tf.saved_model.load(toy_ranking_model_dir)
    expected = toy.signatures["serving_default"](examples=tf.constant(examples, tf.string))
    with StandInServer(toy_ranking_model_dir, "recommendation") as server:
        for url in (server.rest_url, server.grpc_url):
            with ServingClient(url, "recommendation") as client:
                served = client.predict_examples(examples)
            assert served["items"].tolist() == [
                [b"7", b"42", b"1008"],
                [b"", b"", b""],
                [b"5", "ünïcode".encode(), b""],
            ]
            for name, tensor in expected.items():
                assert served[name].dtype == tensor.numpy().dtype, (url, name)
                np.testing.assert_array_equal(served[name], tensor.numpy(), err_msg=name)
            assert served["fallback"].tolist() == [False, True, False]
            assert served["unknown_items"].tolist() == [1, 0, 2]


def test_records_are_sent_in_batches_and_answered_in_order(server, url, examples, in_process):
    with ServingClient(url, MODEL, batch_size=3) as client:
        served = client.predict_examples(examples)

    assert [request.rows for request in server.received] == [3, 3, 3, 1]
    chunks = [_expected(in_process, examples[i : i + 3])["probability"] for i in range(0, ROWS, 3)]
    np.testing.assert_array_equal(served["probability"], np.concatenate(chunks))
    whole = _expected(in_process, examples)["probability"]
    np.testing.assert_allclose(served["probability"], whole, rtol=1e-6)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        (grpc.StatusCode.UNAVAILABLE, None),  # REST: 503
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None),  # REST: 429
        (grpc.StatusCode.UNAVAILABLE, 502),  # a proxy in front of REST
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_transient_failures_are_retried_until_an_answer(
    server, url, examples, in_process, code, http_status
):
    server.fail_next(2, code, "overloaded, try again", http_status=http_status)
    with ServingClient(url, MODEL, retries=3, **FAST) as client:
        served = client.predict_examples(examples)

    assert len(server.received) == 3
    np.testing.assert_array_equal(
        served["probability"], _expected(in_process, examples)["probability"]
    )


def test_transient_failures_beyond_the_retries_raise_unavailable(server, url, examples):
    server.fail_next(5, grpc.StatusCode.UNAVAILABLE, "still restarting")
    with (
        ServingClient(url, MODEL, retries=2, **FAST) as client,
        pytest.raises(ServingUnavailableError) as caught,
    ):
        client.predict_examples(examples)

    assert not isinstance(caught.value, ServingTimeoutError)
    assert caught.value.attempts == 3 and len(server.received) == 3
    assert caught.value.message == "still restarting"
    assert caught.value.status == (503 if _transport(url) == "rest" else "UNAVAILABLE")
    assert "after 3 attempts" in str(caught.value) and MODEL in str(caught.value)


def test_a_server_slower_than_the_timeout_times_out_on_every_attempt(server, url, examples):
    server.delay_s = 0.5
    with (
        ServingClient(url, MODEL, timeout_s=0.1, retries=2, **FAST) as client,
        pytest.raises(ServingTimeoutError) as caught,
    ):
        client.predict_examples(examples)

    assert caught.value.attempts == 3
    assert len(server.received) == 3
    assert caught.value.transport == _transport(url)


def test_input_the_model_cannot_parse_is_refused_at_once(server, url):
    with (
        ServingClient(url, MODEL, retries=3, **FAST) as client,
        pytest.raises(InvalidRequestError) as caught,
    ):
        client.predict_examples([b"not a tf.Example"])

    assert "Could not parse example input" in caught.value.message  # TensorFlow's own words
    assert caught.value.status == (400 if _transport(url) == "rest" else "INVALID_ARGUMENT")
    assert caught.value.attempts == 1 and len(server.received) == 1


@pytest.mark.parametrize(
    ("code", "error", "rest_status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequestError, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, InvalidRequestError, 400),
        (grpc.StatusCode.INTERNAL, ServerError, 500),
        (grpc.StatusCode.UNKNOWN, ServerError, 500),
        (grpc.StatusCode.NOT_FOUND, ModelNotFoundError, 404),
    ],
)
def test_other_failures_are_raised_at_once_with_the_server_message(
    server, url, examples, code, error, rest_status
):
    server.fail_next(1, code, "the server's own words")
    with ServingClient(url, MODEL, retries=3, **FAST) as client, pytest.raises(error) as caught:
        client.predict_examples(examples)

    assert type(caught.value) is error
    assert caught.value.message == "the server's own words"
    assert caught.value.status == (rest_status if _transport(url) == "rest" else code.name)
    assert len(server.received) == 1
    assert "the server's own words" in str(caught.value)


def test_an_unknown_model_is_model_not_found(url, examples):
    with ServingClient(url, "no_such_model") as client, pytest.raises(ModelNotFoundError) as caught:
        client.predict_examples(examples)
    assert "no_such_model" in caught.value.message


def test_an_unknown_signature_or_input_name_is_an_invalid_request(url, examples):
    with ServingClient(url, MODEL, **FAST) as client:
        with pytest.raises(InvalidRequestError, match='signature key "nope" not found'):
            client.predict_examples(examples, signature_name="nope")
        with pytest.raises(InvalidRequestError, match=r"Missing but required: \['examples'\]"):
            client.predict({"inputs": examples})


def test_the_version_asked_for_reaches_the_server(server, url, examples, in_process):
    expected = _expected(in_process, examples)["probability"]
    with ServingClient(url, MODEL, version=1) as client:
        np.testing.assert_array_equal(client.predict_examples(examples)["probability"], expected)
    with ServingClient(url, MODEL, version_label="stable") as client:
        np.testing.assert_array_equal(client.predict_examples(examples)["probability"], expected)
    assert [(r.version, r.version_label) for r in server.received] == [(1, None), (None, "stable")]

    with (
        ServingClient(url, MODEL, version=2) as client,
        pytest.raises(ModelNotFoundError, match=r"Specific\(finance_risk, 2\)"),
    ):
        client.predict_examples(examples)
    with (
        ServingClient(url, MODEL, version_label="canary") as client,
        pytest.raises(InvalidRequestError, match="canary"),
    ):
        client.predict_examples(examples)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_an_unreachable_server_is_unavailable_after_the_retries(scheme, examples):
    url = f"{scheme}://127.0.0.1:{_closed_port()}"
    with (
        ServingClient(url, MODEL, retries=1, **FAST) as client,
        pytest.raises(ServingUnavailableError) as caught,
    ):
        client.predict_examples(examples)
    assert caught.value.attempts == 2
    assert "refused" in caught.value.message.lower() or "connect" in caught.value.message.lower()


@pytest.mark.parametrize(
    ("server_url", "options", "reason"),
    [
        ("ftp://models:21", {}, "unsupported server URL"),
        ("grpc://models", {}, "HOST:PORT"),
        ("grpc://models:8500", {"root_certificates": b"pem"}, "only https:// and grpcs://"),
        ("http://models:8501", {"version": 1, "version_label": "stable"}, "not both"),
        ("http://models:8501", {"batch_size": 0}, "positive"),
    ],
)
def test_a_bad_client_configuration_is_refused_before_any_call(server_url, options, reason):
    with pytest.raises(ValueError, match=reason):
        ServingClient(server_url, MODEL, **options)


@pytest.fixture
def tls_server(serving_model_dir, tmp_path):
    cert_file, key_file = write_self_signed_certificate(tmp_path)
    with StandInServer(serving_model_dir, MODEL, tls=(cert_file, key_file)) as server:
        yield server, cert_file.read_bytes()


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_tls_with_the_servers_certificate_trusted(tls_server, transport, examples, in_process):
    server, certificate = tls_server
    url = server.rest_url if transport == "rest" else server.grpc_url
    assert url.startswith(("https://", "grpcs://"))
    with ServingClient(url, MODEL, root_certificates=certificate) as client:
        served = client.predict_examples(examples)
    np.testing.assert_array_equal(
        served["probability"], _expected(in_process, examples)["probability"]
    )


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_tls_without_the_certificate_trusted_fails_at_once(tls_server, transport, examples):
    server, _ = tls_server
    url = server.rest_url if transport == "rest" else server.grpc_url
    started = time.monotonic()
    with (
        ServingClient(url, MODEL, retries=3, backoff_s=5.0) as client,
        pytest.raises(ServingTlsError) as caught,
    ):
        client.predict_examples(examples)
    assert caught.value.attempts == 1 and time.monotonic() - started < 5.0  # not retried
    assert "certificate" in caught.value.message.lower() or "ssl" in caught.value.message.lower()
    assert server.received == []
