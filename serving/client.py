"""A client for models served by TF Serving, over REST or gRPC.

    with ServingClient("grpc://models:8500", "finance_risk") as client:
        probability = client.predict_examples(examples)["probability"]

The server URL picks the transport: `http://host:8501` or `https://...` -> TF Serving's
REST API, `grpc://host:8500` -> gRPC in clear text, `grpcs://host:8500` -> gRPC over
TLS (the system's root certificates, or `root_certificates`; a client certificate with
`private_key` + `certificate_chain`, for either transport). Inputs are split into
requests of at most `batch_size` rows; the outputs come back concatenated in order.
Each attempt waits at most `timeout_s` for an answer to begin and `timeout_s` in all for
its body; `deadline_s`, when given, bounds a whole `predict` call, every batch and retry
included. An answer larger than `max_response_bytes` is refused (REST: from its
Content-Length, or as it arrives; gRPC: the channel's receive limit). With a
`request_log` (serving/request_log.py), a sample of the examples answered is kept for
the serving-skew check.

What is retried (up to `retries` more times, waiting `backoff_s`, then twice as long
each time, give or take half, or as long as a `Retry-After` header asks, capped at 30 s
and never past the deadline) -- transient failures only:
- no connection (refused, reset, DNS), a connection reset mid-answer, client timeouts;
- HTTP 408, 429, 502, 503, 504;
- gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED.
Nothing else is retried: a failed TLS handshake, any other HTTP 4xx, HTTP 500,
INVALID_ARGUMENT, NOT_FOUND, INTERNAL, an answer the client cannot read, and so on are
raised at once, since the same request would fail again.

Retries also draw on the client's retry budget (`retry_budget`): each first attempt
adds `ratio` of a retry to it (0.2: one retry per five requests), each retry takes one,
and it starts with `reserve` retries. A client whose server is down for good thus ends
up sending little more than one attempt per request, not `retries + 1`, however many
requests it makes: retries help a server through a blip, not into an overload.

What is raised (all `serving.errors.ServingError`, with the server's `message`, the
`status` -- HTTP status or gRPC code name -- the `transport` and the `attempts`):
- `InvalidRequestError`: the server refused the request (HTTP 400 and other 4xx,
  INVALID_ARGUMENT, FAILED_PRECONDITION): unknown signature, wrong input names,
  inputs the model cannot parse;
- `ModelNotFoundError`: no such model, version or version label (HTTP 404, NOT_FOUND);
- `ServerError`: the server failed (HTTP 500 and other 5xx, INTERNAL, UNKNOWN, ...);
- `MalformedAnswerError` (a kind of ServerError): a 200 answer that is not JSON, has
  no outputs, ragged or mistyped values, or is over `max_response_bytes`;
- `ServingTlsError`: the TLS handshake failed (an untrusted or refused certificate);
- `ServingUnavailableError`: a transient failure that lasted through every retry;
- `ServingTimeoutError` (a kind of ServingUnavailableError): every attempt timed out,
  or the call's deadline passed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from aet.serving.errors import (
    MalformedAnswerError,
    ServingError,
    ServingTimeoutError,
    ServingTlsError,
    ServingUnavailableError,
    error_for_grpc_code,
    error_for_http_status,
)
from aet.serving.request_log import RequestLog

DEFAULT_SIGNATURE = "serving_default"
MAX_BACKOFF_S = 30.0
MAX_RESPONSE_BYTES = 256 * 2**20
# Words of gRPC's message for a channel whose TLS handshake failed (it reports UNAVAILABLE).
_GRPC_TLS_FAILURE = ("handshake", "certificate", "ssl_error", "tsi_")
Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelSpec:
    """Which model a request is for: the latest version, a version number, or a label."""

    name: str
    version: int | None = None
    version_label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"model '{self.name}' version {self.version}"
        if self.version_label:
            return f"model '{self.name}' label '{self.version_label}'"
        return f"model '{self.name}'"


class RetryBudget:
    """Retries earned by requests: `ratio` per first attempt, from a `reserve` to start
    with, never more than `reserve` saved up (see the module docstring)."""

    def __init__(self, ratio: float = 0.2, reserve: float = 10.0) -> None:
        if ratio < 0 or reserve < 0:
            raise ValueError("a retry budget's ratio and reserve must not be negative")
        self.ratio, self.reserve, self.balance = ratio, reserve, reserve

    def requested(self) -> None:
        self.balance = min(self.reserve, self.balance + self.ratio)

    def take_retry(self) -> bool:
        if self.balance < 1:
            return False
        self.balance -= 1
        return True


@dataclass(frozen=True)
class TlsOptions:
    """PEM bytes: the roots to trust (None: the system's) and an optional client cert."""

    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None


class Transport(Protocol):
    """One Predict call over one protocol; raises ServingError subclasses."""

    name: str

    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], timeout_s: float
    ) -> Outputs: ...

    def close(self) -> None: ...


def _rest_values(value: object) -> object:
    """TF Serving's JSON for a tensor's values: binary strings as {"b64": ...}."""
    if isinstance(value, list):
        return [_rest_values(item) for item in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _as_bytes(value: object) -> object:
    """A JSON string output back to bytes (TF Serving writes `*_bytes` outputs as b64)."""
    if isinstance(value, list):
        return [_as_bytes(item) for item in value]
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return str(value).encode()


def _from_json(value: object, dtype_name: str) -> np.ndarray:
    """A JSON output as the array gRPC would give: its declared dtype, strings as bytes."""
    if dtype_name == "DT_STRING":
        return np.array(_as_bytes(value), dtype=object)
    dtype = tf.dtypes.as_dtype(types_pb2.DataType.Value(dtype_name))
    return np.asarray(value, dtype=dtype.as_numpy_dtype)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a `Retry-After: N` header asks for (an HTTP date is not honoured)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _error_message(content: bytes, response: requests.Response) -> str:
    """TF Serving's {"error": ...}, or the start of whatever a proxy answered."""
    try:
        return str(json.loads(content)["error"])
    except (ValueError, KeyError, TypeError):
        return content[:500].decode("utf-8", "replace") or response.reason


def _connection_reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 connection failure ('[Errno 111]
    Connection refused', '... certificate verify failed ...'), not the pool's wrapper."""
    for _ in range(10):
        candidates = (getattr(exc, "reason", None), exc.args[0] if exc.args else None)
        inner = next((c for c in candidates if isinstance(c, BaseException)), None)
        if inner is None and isinstance(exc.__cause__ or exc.__context__, OSError):
            inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return str(exc)


class RestTransport:
    """TF Serving's REST API: POST .../v1/models/NAME[/versions/V|/labels/L]:predict with
    the columnar `inputs` body. The signature's output names and dtypes come from the
    model's metadata, asked once: a one-output signature answers with a bare value."""

    name = "rest"

    def __init__(
        self,
        base_url: str,
        spec: ModelSpec,
        tls: TlsOptions | None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._max_bytes = max_response_bytes
        if spec.version is not None:
            version = f"/versions/{spec.version}"
        elif spec.version_label:
            version = f"/labels/{spec.version_label}"
        else:
            version = ""
        self._model_url = f"{base_url.rstrip('/')}/v1/models/{spec.name}{version}"
        self._session = requests.Session()
        self._verify: bool | str = True
        self._cert: tuple[str, str] | None = None
        self._pem_folder = self._write_pem_files(tls) if tls else None
        self._signatures: dict[str, dict] | None = None  # the metadata's signature defs

    def _write_pem_files(self, tls: TlsOptions) -> tempfile.TemporaryDirectory:
        """requests reads certificates from files: a private folder that lives as long as
        this transport."""
        folder = tempfile.TemporaryDirectory(prefix="aet-tls-")
        root = Path(folder.name)
        if tls.root_certificates:
            (root / "ca.pem").write_bytes(tls.root_certificates)
            self._verify = str(root / "ca.pem")
        if tls.certificate_chain and tls.private_key:
            (root / "cert.pem").write_bytes(tls.certificate_chain)
            (root / "key.pem").write_bytes(tls.private_key)
            self._cert = (str(root / "cert.pem"), str(root / "key.pem"))
        return folder

    def _call(self, method: str, suffix: str, timeout_s: float, body: dict | None = None) -> dict:
        url = self._model_url + suffix
        try:
            response = self._session.request(
                method,
                url,
                json=body,
                timeout=timeout_s,
                verify=self._verify,
                cert=self._cert,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            message = f"TLS handshake with {url} failed: {_connection_reason(exc)}"
            raise ServingTlsError(message, transport=self.name) from exc
        except requests.Timeout as exc:
            message = f"timed out after {timeout_s:g} s"
            raise ServingTimeoutError(message, transport=self.name) from exc
        except requests.ConnectionError as exc:
            message = f"cannot reach {self._model_url}: {_connection_reason(exc)}"
            raise ServingUnavailableError(message, transport=self.name) from exc
        with response:
            content = self._body(response, timeout_s)
        if response.status_code != 200:
            error = error_for_http_status(response.status_code, _error_message(content, response))
            error.retry_after_s = _retry_after(response)
            raise error
        try:
            answer = json.loads(content)
        except ValueError as exc:
            message = f"the answer is not JSON: {content[:200]!r}"
            raise MalformedAnswerError(message, status=200, transport=self.name) from exc
        if not isinstance(answer, dict):
            message = f"the answer is not a JSON object: {content[:200]!r}"
            raise MalformedAnswerError(message, status=200, transport=self.name)
        return answer

    def _body(self, response: requests.Response, timeout_s: float) -> bytes:
        """The answer's body, read within `timeout_s` in all (a watchdog shuts the socket
        down on a server that drips it) and within `max_response_bytes`."""
        status = response.status_code
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            message = (
                f"the answer declares {declared} bytes, over max_response_bytes={self._max_bytes}"
            )
            raise MalformedAnswerError(message, status=status, transport=self.name)
        # A second handle on the connection's socket, for the watchdog to shut it down:
        # that wakes the blocked read, which a per-read timeout does not on a drip.
        sock: socket.socket | None = None
        with contextlib.suppress(OSError, ValueError):  # no socket left: nothing to wait on
            sock = socket.socket(fileno=os.dup(response.raw.fileno()))
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(timeout_s, cut)
        watchdog.daemon = True
        watchdog.start()
        chunks, size = [], 0
        broken: BaseException | None = None
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self._max_bytes:
                    message = f"the answer is over max_response_bytes={self._max_bytes}"
                    raise MalformedAnswerError(message, status=status, transport=self.name)
                chunks.append(chunk)
        except (requests.RequestException, OSError) as exc:
            broken = exc
        finally:
            watchdog.cancel()
            if sock is not None:
                sock.close()
        if expired.is_set():
            message = f"the answer did not arrive within {timeout_s:g} s"
            raise ServingTimeoutError(message, status=status, transport=self.name) from broken
        if broken is not None or (declared.isdigit() and size != int(declared)):
            reason = _connection_reason(broken) if broken else f"{size} of {declared} bytes came"
            message = f"the connection broke while the answer arrived: {reason}"
            raise ServingUnavailableError(message, status=status, transport=self.name) from broken
        return b"".join(chunks)

    def _output_dtypes(self, signature_name: str, timeout_s: float) -> dict[str, str]:
        """{output name: dtype name} of a signature, from the model's metadata (asked once)."""
        if self._signatures is None:
            metadata = self._call("GET", "/metadata", timeout_s)
            try:
                self._signatures = dict(metadata["metadata"]["signature_def"]["signature_def"])
            except (KeyError, TypeError, ValueError) as exc:
                message = f"unexpected metadata answer: {str(metadata)[:200]}"
                raise MalformedAnswerError(message, status=200, transport=self.name) from exc
        outputs = self._signatures.get(signature_name, {}).get("outputs", {})
        return {name: spec.get("dtype", "DT_INVALID") for name, spec in outputs.items()}

    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], timeout_s: float
    ) -> Outputs:
        dtypes = self._output_dtypes(signature_name, timeout_s)
        body = {
            "signature_name": signature_name,
            "inputs": {name: _rest_values(value.tolist()) for name, value in inputs.items()},
        }
        answer = self._call("POST", ":predict", timeout_s, body)
        if "outputs" not in answer:
            message = f"the answer has no 'outputs': {str(answer)[:200]}"
            raise MalformedAnswerError(message, status=200, transport=self.name)
        outputs = answer["outputs"]
        if len(dtypes) == 1 and not (isinstance(outputs, dict) and set(outputs) == set(dtypes)):
            outputs = {next(iter(dtypes)): outputs}  # one output: TF Serving drops its name
        if not isinstance(outputs, dict) or not outputs or not set(outputs) <= set(dtypes):
            message = f"outputs do not match the metadata of '{signature_name}': {dtypes}"
            raise MalformedAnswerError(message, status=200, transport=self.name)
        arrays = {}
        for name, value in outputs.items():
            try:
                arrays[name] = _from_json(value, dtypes[name])
            except (ValueError, TypeError, KeyError) as exc:
                message = f"output '{name}' is not a {dtypes[name]} tensor: {str(value)[:100]}"
                raise MalformedAnswerError(message, status=200, transport=self.name) from exc
        return arrays

    def close(self) -> None:
        self._session.close()
        if self._pem_folder is not None:
            self._pem_folder.cleanup()


class GrpcTransport:
    """TF Serving's gRPC PredictionService.Predict, tensors as TensorProtos."""

    name = "grpc"

    def __init__(
        self,
        target: str,
        spec: ModelSpec,
        tls: TlsOptions | None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._spec = spec
        options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", max_response_bytes),
        ]
        if tls is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                tls.root_certificates, tls.private_key, tls.certificate_chain
            )
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(
        self, signature_name: str, inputs: Mapping[str, np.ndarray], timeout_s: float
    ) -> Outputs:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self._spec.name
        request.model_spec.signature_name = signature_name
        if self._spec.version is not None:
            request.model_spec.version.value = self._spec.version
        elif self._spec.version_label:
            request.model_spec.version_label = self._spec.version_label
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        try:
            response = self._stub.Predict(request, timeout=timeout_s)
        except grpc.RpcError as exc:
            message = exc.details() or ""
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                message += f" (the client waits {timeout_s:g} s)"
            if code == grpc.StatusCode.UNAVAILABLE and any(
                word in message.lower() for word in _GRPC_TLS_FAILURE
            ):
                raise ServingTlsError(message, status=code.name, transport=self.name) from exc
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in message:
                raise MalformedAnswerError(message, status=code.name, transport=self.name) from exc
            raise error_for_grpc_code(code.name, message) from exc
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def close(self) -> None:
        self._channel.close()


def make_transport(
    server: str,
    spec: ModelSpec,
    tls: TlsOptions | None,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> Transport:
    """The transport the URL's scheme names; TLS options only where TLS is used."""
    parts = urlsplit(server)
    scheme = parts.scheme.lower()
    if tls is not None and scheme not in ("https", "grpcs"):
        raise ValueError(f"{server}: certificates given, but only https:// and grpcs:// use TLS")
    if scheme in ("http", "https"):
        return RestTransport(server, spec, tls, max_response_bytes)
    if scheme in ("grpc", "grpcs"):
        if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
            raise ValueError(f"{server}: expected {scheme}://HOST:PORT")
        secure = (tls or TlsOptions()) if scheme == "grpcs" else None
        return GrpcTransport(parts.netloc, spec, secure, max_response_bytes)
    raise ValueError(
        f"{server}: unsupported server URL; use http(s)://HOST:PORT for REST "
        "or grpc(s)://HOST:PORT for gRPC"
    )


def _as_array(value: object) -> np.ndarray:
    """Strings as an object array: numpy's fixed-width bytes would cut the trailing zero
    bytes a serialized tf.Example can end with."""
    if isinstance(value, np.ndarray) and value.dtype.kind != "U":
        return value
    array = np.asarray(value)
    return np.asarray(value, dtype=object) if array.dtype.kind in "SU" else array


class ServingClient:
    """Predict calls to one model on one server (see the module docstring)."""

    def __init__(
        self,
        server: str,
        model_name: str,
        *,
        version: int | None = None,
        version_label: str | None = None,
        timeout_s: float = 10.0,
        deadline_s: float | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        batch_size: int = 64,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        retry_budget: RetryBudget | None = None,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        request_log: RequestLog | None = None,
    ) -> None:
        if version is not None and version_label:
            raise ValueError("give a version or a version label, not both")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or batch_size < 1:
            raise ValueError(
                "timeout_s and batch_size must be positive, retries and backoff_s not negative"
            )
        if (deadline_s is not None and deadline_s <= 0) or max_response_bytes < 1:
            raise ValueError("deadline_s and max_response_bytes must be positive")
        if bool(private_key) != bool(certificate_chain):
            raise ValueError("a client certificate needs both private_key and certificate_chain")
        tls = None
        if root_certificates or certificate_chain:
            tls = TlsOptions(root_certificates, private_key, certificate_chain)
        self.server = server
        self.spec = ModelSpec(model_name, version, version_label)
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.batch_size = batch_size
        self.retry_budget = retry_budget or RetryBudget()
        self._transport = make_transport(server, self.spec, tls, max_response_bytes)
        self._random = random.Random()
        self.request_log = request_log

    @property
    def transport(self) -> str:
        """'rest' or 'grpc'."""
        return self._transport.name

    def predict(
        self, inputs: Mapping[str, object], signature_name: str = DEFAULT_SIGNATURE
    ) -> Outputs:
        """The signature's outputs for `inputs` ({input name: array, rows on axis 0}),
        sent in requests of at most `batch_size` rows."""
        arrays = {name: _as_array(value) for name, value in inputs.items()}
        rows = {len(array) if array.ndim else 0 for array in arrays.values()}
        if len(rows) != 1 or 0 in rows:
            raise ValueError(f"every input needs the same number of rows, at least one: {rows}")
        (count,) = rows
        deadline = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        chunks = []
        for start in range(0, count, self.batch_size):
            chunk = {name: array[start : start + self.batch_size] for name, array in arrays.items()}
            chunks.append(
                self._with_retries(
                    lambda timeout_s, chunk=chunk: self._transport.predict(
                        signature_name, chunk, timeout_s
                    ),
                    deadline,
                )
            )
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}

    def predict_examples(
        self, examples: Sequence[bytes] | np.ndarray, signature_name: str = DEFAULT_SIGNATURE
    ) -> Outputs:
        """`serving_default` of every domain: serialized tf.Examples (serving/requests.py);
        those answered go to the request log, if the client keeps one."""
        outputs = self.predict({"examples": np.asarray(examples, dtype=object)}, signature_name)
        if self.request_log is not None:
            self.request_log.record(list(examples))
        return outputs

    def _backoff(self, retry: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** (retry - 1)) * self._random.uniform(
            0.5, 1.5
        )

    def _with_retries(self, call: Callable[[float], Outputs], deadline: float | None) -> Outputs:
        """`call(timeout_s)` until it answers, a failure is not transient, the retries
        are spent or the deadline would pass before the next attempt."""
        target = f"{self.spec} at {self.server}"
        failures: list[ServingUnavailableError] = []
        self.retry_budget.requested()
        budget_spent = False
        for attempt in range(1, self.retries + 2):
            if failures:
                if not self.retry_budget.take_retry():
                    budget_spent = True
                    break
                asked = failures[-1].retry_after_s or 0.0  # the server's Retry-After
                wait = min(MAX_BACKOFF_S, max(self._backoff(len(failures)), asked))
                if deadline is not None and time.monotonic() + wait >= deadline:
                    break
                time.sleep(wait)
            timeout_s = self.timeout_s
            if deadline is not None:
                timeout_s = min(timeout_s, deadline - time.monotonic())
                if timeout_s <= 0:
                    break
            try:
                return call(timeout_s)
            except ServingUnavailableError as exc:
                failures.append(exc)
            except ServingError as exc:
                exc.target, exc.attempts = target, attempt
                raise
        if budget_spent:
            last = failures[-1]
            raise ServingUnavailableError(
                f"{last.message}; not retried: the client's retry budget is spent "
                f"({self.retry_budget.ratio:g} of a retry per request)",
                status=last.status,
                transport=self.transport,
                target=target,
                attempts=len(failures),
            ) from last
        if deadline is not None and len(failures) < self.retries + 1:
            last = failures[-1] if failures else None
            reason = f"; the last attempt: {last.message}" if last else ""
            raise ServingTimeoutError(
                f"the call's deadline of {self.deadline_s:g} s passed{reason}",
                status=last.status if last else None,
                transport=self.transport,
                target=target,
                attempts=len(failures),
            ) from last
        last = failures[-1]
        if isinstance(last, ServingTimeoutError) and not all(
            isinstance(failure, ServingTimeoutError) for failure in failures
        ):  # some attempts were answered (e.g. 503): not a timeout on every attempt
            raise ServingUnavailableError(
                last.message,
                status=last.status,
                transport=last.transport,
                target=target,
                attempts=len(failures),
            ) from last
        last.target, last.attempts = target, len(failures)
        raise last

    def close(self) -> None:
        self._transport.close()
        if self.request_log is not None:
            self.request_log.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
