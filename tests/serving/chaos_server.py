"""A stand-in for a misbehaving TF Serving (or a proxy in front of one) over REST: it
answers the model's metadata properly and each Predict with the next fault on its list.

    with ChaosServer(["retry_after", "ok"]) as server:
        ServingClient(server.url, "m").predict({"x": [[1.0]]})

Faults: `not_json`, `empty` ({} with 200), `ragged` (rows of different lengths),
`wrong_dtype` (strings for a float output), `slow_drip` (a body one byte at a time),
`retry_after` (503 with `Retry-After: 1`), `reset` (the connection closed mid-body),
`huge` (a Content-Length of 10 GB); `ok` answers [[0.5]] per row. The last fault on the
list repeats. `arrivals` holds when each Predict arrived (time.monotonic()).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METADATA = {
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {"outputs": {"probability": {"dtype": "DT_FLOAT"}}}
            }
        }
    }
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, json.dumps(METADATA).encode())

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rows = len(next(iter(request["inputs"].values())))
        self.server.arrivals.append(time.monotonic())
        faults = self.server.faults
        fault = faults.pop(0) if len(faults) > 1 else faults[0]
        if fault == "ok":
            self._send(200, json.dumps({"outputs": [[0.5]] * rows}).encode())
        elif fault == "not_json":
            self._send(200, b"<html>proxy says hello</html>")
        elif fault == "empty":
            self._send(200, b"{}")
        elif fault == "ragged":
            self._send(200, json.dumps({"outputs": [[0.5], [0.5, 0.5]]}).encode())
        elif fault == "wrong_dtype":
            self._send(200, json.dumps({"outputs": [["high"]] * rows}).encode())
        elif fault == "unavailable":
            self._send(503, b'{"error": "down"}')
        elif fault == "retry_after":
            self._send(503, b'{"error": "overloaded"}', {"Retry-After": "1"})
        elif fault in ("slow_drip", "reset", "huge"):
            size = {"slow_drip": 1000, "reset": 1000, "huge": 10 * 2**30}[fault]
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if fault == "slow_drip":
                for _ in range(size):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif fault == "reset":
                self.wfile.write(b'{"outputs": [[0.')
            self.wfile.flush()
            self.close_connection = True
        else:
            raise ValueError(f"unknown fault {fault!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    faults: list[str]
    arrivals: list[float]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a slow or broken answer: expected here


class ChaosServer:
    def __init__(self, faults: list[str]) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.faults = list(faults)
        self._server.arrivals = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def arrivals(self) -> list[float]:
        return self._server.arrivals

    def __enter__(self) -> ChaosServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
