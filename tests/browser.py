"""Opens a page in real headless Chromium and reports what a person's browser would see:
console errors, uncaught exceptions, every request the page made, and whatever a script
reads from the rendered page. Driven over the DevTools protocol (websocket-client is in
the lock), so no browser download and no driver are needed: Debian's `chromium`
package, which .ci/run installs where it is missing."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websocket

BINARIES = ("chromium", "chromium-browser", "google-chrome")
PROBLEMS = ("error", "warning")


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    found: object = None  # what the script returned
    screenshot: bytes | None = None


def chromium() -> str:
    """The browser's path; on CI a missing browser fails the test instead of skipping it."""
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs it before the tests")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


class _DevTools:
    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=60)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == method for event in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.socket.recv()))


def _collect(events: list[dict], outcome: PageVisit) -> None:
    """The requests made and the errors and warnings reported, from DevTools events."""
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            outcome.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            outcome.console_errors.append(params["exceptionDetails"]["text"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in PROBLEMS:
            outcome.console_errors.append(str(params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] in PROBLEMS:
            outcome.console_errors.append(params["entry"]["text"])


def visit(page: Path, script: str, screenshot: bool = False) -> PageVisit:
    """Loads `page` from file://, runs `script` (an expression whose value is returned
    as JSON) once it has loaded, and tells what happened."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                assert browser.poll() is None, "chromium exited at start"
                assert time.monotonic() < deadline, "chromium did not start within 60 s"
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as listing:
                target = next(t for t in json.load(listing) if t["type"] == "page")
            tools = _DevTools(target["webSocketDebuggerUrl"])
            for domain in ("Page", "Runtime", "Log", "Network"):
                tools.call(f"{domain}.enable")
            tools.call("Page.navigate", url=page.resolve().as_uri())
            tools.wait_for("Page.loadEventFired")
            result = tools.call("Runtime.evaluate", expression=script, returnByValue=True)
            outcome = PageVisit(found=result["result"].get("value"))
            if screenshot:
                shot = tools.call(
                    "Page.captureScreenshot", format="png", captureBeyondViewport=True
                )
                outcome.screenshot = base64.b64decode(shot["data"])
            _collect(tools.events, outcome)
            tools.socket.close()
            return outcome
        finally:
            browser.kill()
            browser.wait(timeout=30)
