"""A client for models served by TF Serving, over REST or gRPC.

    with ServingClient("grpc://models:8500", "finance_risk") as client:
        probability = client.predict_examples(examples)["probability"]

The server URL picks the transport: `http://host:8501` or `https://...` -> TF Serving's
REST API, `grpc://host:8500` -> gRPC in clear text, `grpcs://host:8500` -> gRPC over
TLS (the system's root certificates, or `root_certificates`; a client certificate with
`private_key` + `certificate_chain`, for either transport). Inputs are split into
requests of at most `batch_size` rows; the outputs come back concatenated in order.
Each request waits at most `timeout_s`.

What is retried (up to `retries` more times, waiting `backoff_s`, then twice as long
each time, give or take half, capped at 30 s) -- transient failures only:
- no connection (refused, reset, DNS, a failed TLS handshake) and client timeouts;
- HTTP 408, 429, 502, 503, 504;
- gRPC UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED.
Nothing else is retried: any other HTTP 4xx, HTTP 500, INVALID_ARGUMENT, NOT_FOUND,
INTERNAL and so on are raised at once, since the same request would fail again.

What is raised (all `serving.errors.ServingError`, with the server's `message`, the
`status` -- HTTP status or gRPC code name -- the `transport` and the `attempts`):
- `InvalidRequestError`: the server refused the request (HTTP 400 and other 4xx,
  INVALID_ARGUMENT, FAILED_PRECONDITION): unknown signature, wrong input names,
  inputs the model cannot parse;
- `ModelNotFoundError`: no such model, version or version label (HTTP 404, NOT_FOUND);
- `ServerError`: the server failed (HTTP 500 and other 5xx, INTERNAL, UNKNOWN, ...);
- `ServingUnavailableError`: a transient failure that lasted through every retry;
- `ServingTimeoutError` (a kind of ServingUnavailableError): every attempt timed out.
"""

from __future__ import annotations

import base64
import random
import tempfile
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
    ServerError,
    ServingError,
    ServingTimeoutError,
    ServingUnavailableError,
    error_for_grpc_code,
    error_for_http_status,
)

DEFAULT_SIGNATURE = "serving_default"
MAX_BACKOFF_S = 30.0
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


def _error_message(response: requests.Response) -> str:
    """TF Serving's {"error": ...}, or the start of whatever a proxy answered."""
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500] or response.reason


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

    def __init__(self, base_url: str, spec: ModelSpec, tls: TlsOptions | None) -> None:
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
        try:
            response = self._session.request(
                method,
                self._model_url + suffix,
                json=body,
                timeout=timeout_s,
                verify=self._verify,
                cert=self._cert,
            )
        except requests.Timeout as exc:
            message = f"timed out after {timeout_s:g} s"
            raise ServingTimeoutError(message, transport=self.name) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            message = f"cannot reach {self._model_url}: {_connection_reason(exc)}"
            raise ServingUnavailableError(message, transport=self.name) from exc
        if response.status_code != 200:
            raise error_for_http_status(response.status_code, _error_message(response))
        try:
            return response.json()
        except ValueError as exc:
            message = f"the answer is not JSON: {response.text[:200]!r}"
            raise ServerError(message, status=200, transport=self.name) from exc

    def _output_dtypes(self, signature_name: str, timeout_s: float) -> dict[str, str]:
        """{output name: dtype name} of a signature, from the model's metadata (asked once)."""
        if self._signatures is None:
            metadata = self._call("GET", "/metadata", timeout_s)
            try:
                self._signatures = dict(metadata["metadata"]["signature_def"]["signature_def"])
            except (KeyError, TypeError, ValueError) as exc:
                message = f"unexpected metadata answer: {str(metadata)[:200]}"
                raise ServerError(message, status=200, transport=self.name) from exc
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
        outputs = self._call("POST", ":predict", timeout_s, body)["outputs"]
        if len(dtypes) == 1 and not (isinstance(outputs, dict) and set(outputs) == set(dtypes)):
            outputs = {next(iter(dtypes)): outputs}  # one output: TF Serving drops its name
        if not isinstance(outputs, dict) or not set(outputs) <= set(dtypes):
            message = f"outputs do not match the metadata of '{signature_name}': {dtypes}"
            raise ServerError(message, status=200, transport=self.name)
        return {name: _from_json(value, dtypes[name]) for name, value in outputs.items()}

    def close(self) -> None:
        self._session.close()
        if self._pem_folder is not None:
            self._pem_folder.cleanup()


class GrpcTransport:
    """TF Serving's gRPC PredictionService.Predict, tensors as TensorProtos."""

    name = "grpc"

    def __init__(self, target: str, spec: ModelSpec, tls: TlsOptions | None) -> None:
        self._spec = spec
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
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
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                message += f" (the client waits {timeout_s:g} s)"
            raise error_for_grpc_code(exc.code().name, message) from exc
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def close(self) -> None:
        self._channel.close()


def make_transport(server: str, spec: ModelSpec, tls: TlsOptions | None) -> Transport:
    """The transport the URL's scheme names; TLS options only where TLS is used."""
    parts = urlsplit(server)
    scheme = parts.scheme.lower()
    if tls is not None and scheme not in ("https", "grpcs"):
        raise ValueError(f"{server}: certificates given, but only https:// and grpcs:// use TLS")
    if scheme in ("http", "https"):
        return RestTransport(server, spec, tls)
    if scheme in ("grpc", "grpcs"):
        if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
            raise ValueError(f"{server}: expected {scheme}://HOST:PORT")
        secure = (tls or TlsOptions()) if scheme == "grpcs" else None
        return GrpcTransport(parts.netloc, spec, secure)
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
        retries: int = 3,
        backoff_s: float = 0.2,
        batch_size: int = 64,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
    ) -> None:
        if version is not None and version_label:
            raise ValueError("give a version or a version label, not both")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or batch_size < 1:
            raise ValueError(
                "timeout_s and batch_size must be positive, retries and backoff_s not negative"
            )
        if bool(private_key) != bool(certificate_chain):
            raise ValueError("a client certificate needs both private_key and certificate_chain")
        tls = None
        if root_certificates or certificate_chain:
            tls = TlsOptions(root_certificates, private_key, certificate_chain)
        self.server = server
        self.spec = ModelSpec(model_name, version, version_label)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.batch_size = batch_size
        self._transport = make_transport(server, self.spec, tls)
        self._random = random.Random()

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
        chunks = []
        for start in range(0, count, self.batch_size):
            chunk = {name: array[start : start + self.batch_size] for name, array in arrays.items()}
            chunks.append(
                self._with_retries(
                    lambda chunk=chunk: self._transport.predict(
                        signature_name, chunk, self.timeout_s
                    )
                )
            )
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}

    def predict_examples(
        self, examples: Sequence[bytes] | np.ndarray, signature_name: str = DEFAULT_SIGNATURE
    ) -> Outputs:
        """`serving_default` of every domain: serialized tf.Examples (serving/requests.py)."""
        return self.predict({"examples": np.asarray(examples, dtype=object)}, signature_name)

    def _backoff(self, retry: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** (retry - 1)) * self._random.uniform(
            0.5, 1.5
        )

    def _with_retries(self, call: Callable[[], Outputs]) -> Outputs:
        target = f"{self.spec} at {self.server}"
        failures: list[ServingUnavailableError] = []
        for attempt in range(1, self.retries + 2):
            if failures:
                time.sleep(self._backoff(len(failures)))
            try:
                return call()
            except ServingUnavailableError as exc:
                failures.append(exc)
            except ServingError as exc:
                exc.target, exc.attempts = target, attempt
                raise
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

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
