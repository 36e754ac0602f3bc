"""A stand-in for TF Serving in tests: a REAL SavedModel answering Predict over REST and
gRPC the way the model server does, with faults on demand.

    with StandInServer(model_dir, "finance_risk") as server:
        ServingClient(server.rest_url, "finance_risk")   # or server.grpc_url

- REST (http.server, HTTPS with `tls`): POST /v1/models/NAME[/versions/V|/labels/L]:predict
  with the columnar `inputs` body (binary strings as {"b64": ...}); a one-output
  signature answers with the bare value, as TF Serving does. GET .../metadata answers
  the SavedModel's signature defs. Errors are {"error": message} with TF Serving's HTTP
  status for the gRPC code.
- gRPC (PredictionService.Predict, TLS with `tls`).
- Like TF Serving: an unknown model or version is NOT_FOUND (404), an unknown label,
  signature or input name, or inputs the signature fails on (garbage instead of a
  tf.Example) are INVALID_ARGUMENT (400) with TensorFlow's message.
- For tests: `fail_next` answers the next Predict requests with a given code,
  `delay_s` waits before answering each one, `received` lists every Predict request
  (metadata requests are counted apart, in `metadata_requests`).
- `write_self_signed_certificate` makes the certificate for `tls` (localhost, 127.0.0.1).
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

# TF Serving's REST status for a gRPC code (others are 500).
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.DEADLINE_EXCEEDED: 408,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}
_CODE_OF_TF_ERROR = {code.value[0]: code for code in grpc.StatusCode}
_PATH = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<verb>:predict|/metadata)$"
)


class Failure(Exception):
    """What the stand-in answers instead of outputs."""

    def __init__(self, code: grpc.StatusCode, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_STATUS.get(code, 500)


@dataclass(frozen=True)
class Received:
    """One Predict request as the server saw it."""

    transport: str
    model: str
    version: int | None
    version_label: str | None
    signature: str
    rows: int


@dataclass
class _Fault:
    remaining: int
    failure: Failure


@functools.lru_cache(maxsize=4)
def _load(model_dir: str) -> tuple[object, dict]:
    """The loaded SavedModel and its signature defs as TF Serving's metadata shows them."""
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((Path(model_dir) / "saved_model.pb").read_bytes())
    signature_defs = {
        name: json_format.MessageToDict(definition, preserving_proto_field_name=True)
        for name, definition in saved_model.meta_graphs[0].signature_def.items()
    }
    return tf.saved_model.load(model_dir), signature_defs


def _from_json(value: object) -> np.ndarray:
    """A REST input's values: strings ({"b64": ...} or text) as bytes in an object array."""

    def decode(item: object) -> object:
        if isinstance(item, list):
            return [decode(inner) for inner in item]
        if isinstance(item, dict):
            return base64.b64decode(item["b64"])
        return item.encode() if isinstance(item, str) else item

    decoded = decode(value)
    leaf = decoded
    while isinstance(leaf, list) and leaf:
        leaf = leaf[0]
    return np.array(decoded, dtype=object) if isinstance(leaf, bytes) else np.asarray(decoded)


def _to_json(name: str, array: np.ndarray) -> object:
    """An output as TF Serving writes it: strings as text, or b64 for `*_bytes` outputs."""

    def encode(item: object) -> object:
        if isinstance(item, list):
            return [encode(inner) for inner in item]
        if isinstance(item, bytes):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(item).decode()}
            return item.decode()
        return item

    return encode(array.tolist())


def _rows(inputs: Mapping[str, np.ndarray]) -> int:
    first = next(iter(inputs.values()), None)
    return len(first) if first is not None and np.ndim(first) else 0


class StandInServer:
    """TF Serving's Predict over REST and gRPC for one model version (see module doc)."""

    def __init__(
        self,
        model_dir: str,
        model_name: str,
        *,
        version: int = 1,
        labels: Mapping[str, int] | None = None,
        tls: tuple[Path, Path] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.model_dir = str(model_dir)
        self.model_name = model_name
        self.version = version
        self.labels = dict(labels or {})
        self.tls = tls  # (certificate chain file, private key file)
        self.delay_s = delay_s
        self.received: list[Received] = []
        self.metadata_requests = 0
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None
        self.rest_url = self.grpc_url = ""

    # -- what tests use --------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        code: grpc.StatusCode,
        message: str = "stand-in fault",
        http_status: int | None = None,
    ) -> None:
        """Answer the next `count` Predict requests with `code` (REST: TF Serving's HTTP
        status for it, or `http_status`, e.g. a proxy's 502)."""
        with self._lock:
            self._faults.append(_Fault(count, Failure(code, message, http_status)))

    # -- the model server --------------------------------------------------------------

    def _resolve(self, model: str, version: int | None, label: str | None) -> None:
        if model != self.model_name:
            raise Failure(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({model})"
            )
        if label is not None and label not in self.labels:
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}"
            )
        wanted = self.labels[label] if label is not None else version
        if wanted is not None and wanted != self.version:
            raise Failure(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Specific({model}, {wanted})",
            )

    def _run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        loaded, _ = _load(self.model_dir)
        function = loaded.signatures.get(signature_name)
        if function is None:
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'Serving signature key "{signature_name}" not found.',
            )
        _, specs = function.structured_input_signature
        if set(inputs) != set(specs):
            extra, missing = sorted(set(inputs) - set(specs)), sorted(set(specs) - set(inputs))
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: Sent extra: {extra}. "
                f"Missing but required: {missing}.",
            )
        try:
            tensors = {name: tf.constant(inputs[name], spec.dtype) for name, spec in specs.items()}
            outputs = function(**tensors)
        except tf.errors.OpError as exc:
            raise Failure(_CODE_OF_TF_ERROR[exc.error_code], exc.message) from exc
        except (TypeError, ValueError) as exc:
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def answer(
        self,
        request: Received,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """One Predict request: recorded, delayed, failed on demand, else run."""
        with self._lock:
            self.received.append(request)
            fault = next((fault for fault in self._faults if fault.remaining > 0), None)
            if fault is not None:
                fault.remaining -= 1
        if self.delay_s:
            self._stopping.wait(self.delay_s)
        if fault is not None:
            raise fault.failure
        self._resolve(request.model, request.version, request.version_label)
        return self._run(request.signature, inputs)

    def metadata(self, model: str, version: int | None, label: str | None) -> dict:
        with self._lock:
            self.metadata_requests += 1
        self._resolve(model, version, label)
        _, signature_defs = _load(self.model_dir)
        return {
            "model_spec": {"name": model, "signature_name": "", "version": str(self.version)},
            "metadata": {
                "signature_def": {
                    "signature_def": signature_defs,
                    "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                }
            },
        }

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> StandInServer:
        _load(self.model_dir)
        self._start_rest()
        self._start_grpc()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def _start_rest(self) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _RestHandler)
        self._http.stand_in = self  # type: ignore[attr-defined]
        scheme = "http"
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
            scheme = "https"
        self.rest_url = f"{scheme}://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _start_grpc(self) -> None:
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self), self._grpc
        )
        if self.tls:
            cert, key = (path.read_bytes() for path in self.tls)
            credentials = grpc.ssl_server_credentials([(key, cert)])
            port = self._grpc.add_secure_port("localhost:0", credentials)
            self.grpc_url = f"grpcs://localhost:{port}"
        else:
            port = self._grpc.add_insecure_port("localhost:0")
            self.grpc_url = f"grpc://localhost:{port}"
        self._grpc.start()


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, stand_in: StandInServer) -> None:
        self._stand_in = stand_in

    def Predict(self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext):
        spec = request.model_spec
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        received = Received(
            transport="grpc",
            model=spec.name,
            version=spec.version.value if spec.HasField("version") else None,
            version_label=spec.version_label or None,
            signature=spec.signature_name or "serving_default",
            rows=_rows(inputs),
        )
        try:
            outputs = self._stand_in.answer(received, inputs)
        except Failure as exc:
            context.abort(exc.code, exc.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(spec)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


class _RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, *_: object) -> None:
        """Quiet: the tests' output is not the place for an access log."""

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path)
        if match is None or (method == "POST") != (match["verb"] == ":predict"):
            self._send(404, {"error": f"Malformed request: {method} {self.path}"})
            return
        stand_in: StandInServer = self.server.stand_in  # type: ignore[attr-defined]
        version = int(match["version"]) if match["version"] else None
        try:
            if method == "GET":
                payload = stand_in.metadata(match["model"], version, match["label"])
            else:
                payload = self._predict(stand_in, match, version, body)
        except Failure as exc:
            self._send(exc.http_status, {"error": exc.message})
            return
        self._send(200, payload)

    @staticmethod
    def _predict(
        stand_in: StandInServer, match: re.Match, version: int | None, body: bytes
    ) -> dict:
        try:
            request = json.loads(body)
            inputs = {name: _from_json(value) for name, value in request["inputs"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Failure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the stand-in takes the columnar {{'inputs': {{...}}}} body: {exc}",
            ) from exc
        received = Received(
            transport="rest",
            model=match["model"],
            version=version,
            version_label=match["label"],
            signature=request.get("signature_name") or "serving_default",
            rows=_rows(inputs),
        )
        outputs = stand_in.answer(received, inputs)
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": _to_json(name, value)}
        return {"outputs": {name: _to_json(name, value) for name, value in outputs.items()}}

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) before the answer


def write_self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, private key) PEM files for localhost and 127.0.0.1, self-signed: the
    stand-in's `tls`, and the root certificate a client must be given to trust it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "localhost.pem", folder / "localhost.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
