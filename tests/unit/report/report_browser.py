"""Open a local HTML file in headless Chromium over the DevTools protocol (``--remote-debugging-pipe``, no
websocket library): record every network request, console message and exception, and take screenshots."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """Chromium's path, installing Debian's ``chromium`` package when it is missing (tests run as root)."""
    path = find_chromium()
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True,
                   timeout=1200)
    path = find_chromium()
    if not path:
        raise RuntimeError("chromium is not on PATH after apt-get install chromium")
    return path


@dataclass
class PageVisit:
    """What happened while the page loaded."""

    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    console: list[dict] = field(default_factory=list)  # console API calls: {"type", "text"}
    exceptions: list[str] = field(default_factory=list)
    log_entries: list[dict] = field(default_factory=list)  # browser log: {"level", "source", "text", "url"}
    screenshots: list[bytes] = field(default_factory=list)  # PNGs, top to bottom
    page_height: int = 0

    @property
    def errors(self) -> list[str]:
        out = [f"console.{c['type']}: {c['text']}" for c in self.console if c["type"] in ("error", "assert")]
        out += [f"exception: {e}" for e in self.exceptions]
        out += [f"log {e['source']}: {e['text']} {e.get('url', '')}" for e in self.log_entries if e["level"] == "error"]
        return out


class _Pipe:
    def __init__(self, binary: str, width: int, height: int):
        self.to_chrome_r, self.to_chrome_w = os.pipe()
        self.from_chrome_r, self.from_chrome_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="agpt-chromium-")
        to_r, from_w = self.to_chrome_r, self.from_chrome_w

        def _fds():  # chromium reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(to_r), os.dup(from_w)  # fresh numbers, so 3/4 never overwrite an end still needed
            os.dup2(a, 3)  # os.dup2 makes the copies inheritable
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=_fds)
        os.close(to_r)
        os.close(from_w)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.extend(self._read(deadline))

    def _read(self, deadline: float) -> list[dict]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from chromium")
        ready, _, _ = select.select([self.from_chrome_r], [], [], remaining)
        if not ready:
            raise TimeoutError("no answer from chromium")
        chunk = os.read(self.from_chrome_r, 1 << 20)
        if not chunk:
            raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
        self.buffer += chunk
        *messages, self.buffer = self.buffer.split(b"\0")
        return [json.loads(m) for m in messages if m]

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_chrome_w, self.from_chrome_r):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


def visit(html: Path, binary: str | None = None, width: int = 1280, height: int = 1600,
          max_screens: int = 1, settle_s: float = 0.5) -> PageVisit:
    """Load ``html`` (a local file) and return its requests, console output and ``max_screens`` screenshots."""
    pipe = _Pipe(binary or ensure_chromium(), width, height)
    result = PageVisit()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        pipe.events.clear()
        pipe.send("Page.navigate", {"url": Path(html).resolve().as_uri()}, session=session)
        pipe.wait_for("Page.loadEventFired", timeout=120)
        time.sleep(settle_s)
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        result.page_height = int(metrics.get("cssContentSize", metrics.get("contentSize"))["height"])
        for k in range(max_screens):
            y = k * height
            if y >= result.page_height:
                break
            shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                        "clip": {"x": 0, "y": y, "width": width, "height": height,
                                                                 "scale": 1}}, session=session)
            result.screenshots.append(base64.b64decode(shot["data"]))
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                result.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                result.console.append({"type": params.get("type"), "text": text})
            elif method == "Runtime.exceptionThrown":
                result.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded":
                entry = params["entry"]
                result.log_entries.append({k: entry.get(k, "") for k in ("level", "source", "text", "url")})
    finally:
        pipe.close()
    return result
