"""What a failed TF Serving call raises (see serving/client.py for when each is raised).

Every error is a `ServingError` carrying the server's own message, the status it
answered with (an HTTP status int for REST, a gRPC code name such as
"INVALID_ARGUMENT" for gRPC; None when no answer came back) and the transport.
"""

from __future__ import annotations


class ServingError(Exception):
    """A Predict call that failed; `message` is the server's (or the connection's) reason,
    `target` the model and server, `attempts` how many times the call was sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int | str | None = None,
        transport: str = "",
        target: str = "",
        attempts: int = 1,
        retry_after_s: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.transport = transport
        self.target = target
        self.attempts = attempts
        self.retry_after_s = retry_after_s  # how long the server asked the client to wait
        super().__init__(message)

    def __str__(self) -> str:
        if isinstance(self.status, int):
            status = f"HTTP {self.status}"
        elif self.status:
            status = f"gRPC {self.status}"
        else:
            status = "no answer"
        tried = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        where = f"{self.target}: " if self.target else ""
        return f"{where}{status}{tried}: {self.message}"


class InvalidRequestError(ServingError):
    """The server refused the request (HTTP 4xx, INVALID_ARGUMENT, FAILED_PRECONDITION):
    wrong signature or input names, or inputs the model cannot parse. Never retried."""


class ModelNotFoundError(ServingError):
    """No such model, version or version label on the server (HTTP 404, NOT_FOUND)."""


class ServerError(ServingError):
    """The server failed on its side (HTTP 500 and other 5xx, INTERNAL, UNKNOWN, ...).
    Not retried: the same request would most likely fail the same way."""


class MalformedAnswerError(ServerError):
    """An answer the client cannot use although the call succeeded: not JSON, no
    outputs, ragged or mistyped values, or larger than the client accepts."""


class ServingTlsError(ServingError):
    """The TLS handshake failed: the server's certificate is not trusted, or it refused
    the client's. Never retried: the next handshake would fail the same way."""


class ServingUnavailableError(ServingError):
    """A transient failure (no connection, HTTP 429/502/503/504, UNAVAILABLE,
    RESOURCE_EXHAUSTED) that was still failing after every retry."""


class ServingTimeoutError(ServingUnavailableError):
    """Every attempt timed out (the client's timeout, HTTP 408 or DEADLINE_EXCEEDED), or
    the call's overall deadline passed."""


# HTTP statuses worth another attempt: the server or a proxy in front is overloaded or
# restarting. 408 is what TF Serving's REST API answers for DEADLINE_EXCEEDED.
RETRIED_HTTP_STATUSES = frozenset({408, 429, 502, 503, 504})
TIMEOUT_HTTP_STATUSES = frozenset({408})
RETRIED_GRPC_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"})
TIMEOUT_GRPC_CODES = frozenset({"DEADLINE_EXCEEDED"})
_INVALID_GRPC_CODES = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
    }
)


def error_for_http_status(status: int, message: str) -> ServingError:
    """The error a REST answer with `status` stands for."""
    if status in TIMEOUT_HTTP_STATUSES:
        kind: type[ServingError] = ServingTimeoutError
    elif status in RETRIED_HTTP_STATUSES:
        kind = ServingUnavailableError
    elif status == 404:
        kind = ModelNotFoundError
    elif 400 <= status < 500:
        kind = InvalidRequestError
    else:
        kind = ServerError
    return kind(message, status=status, transport="rest")


def error_for_grpc_code(code: str, message: str) -> ServingError:
    """The error a gRPC status code name (e.g. "NOT_FOUND") stands for."""
    if code in TIMEOUT_GRPC_CODES:
        kind: type[ServingError] = ServingTimeoutError
    elif code in RETRIED_GRPC_CODES:
        kind = ServingUnavailableError
    elif code == "NOT_FOUND":
        kind = ModelNotFoundError
    elif code in _INVALID_GRPC_CODES:
        kind = InvalidRequestError
    else:
        kind = ServerError
    return kind(message, status=code, transport="grpc")
