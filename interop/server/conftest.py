"""Starts real `lumen serve` processes for the tests that check Lumen against outside tools."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The release build (what users run; tools/test.sh builds it), else the debug one.
_release = ROOT / ".build" / "release" / "lumen"
LUMEN = Path(os.environ.get("LUMEN_BIN") or (_release if _release.exists() else ROOT / ".build" / "debug" / "lumen"))
TINY_SD = ROOT / "Tests" / "LumenEngineTests" / "Fixtures" / "tiny-sd1"
# Attention only below the top level: the cheapest fixture at 256×256 (the watermark's minimum).
TINY_SD2 = ROOT / "Tests" / "LumenEngineTests" / "Fixtures" / "tiny-sd2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `lumen serve` process on a free port with its own data folder."""

    def __init__(self, data=None, built_in=None, models=None, args=()):
        self.port = free_port()
        self.data = data or tempfile.mkdtemp(prefix="lumen-data-")
        self.built_in, self.models, self.args = built_in, models, list(args)
        self.proc = None
        self.log = Path(self.data + ".log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        cmd = [str(LUMEN), "serve", "--port", str(self.port), "--data", self.data, *self.args]
        if self.built_in:
            cmd += ["--built-in-model", str(self.built_in)]
        if self.models:
            cmd += ["--models", str(self.models)]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lumen serve exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("lumen serve did not start in 120 s")

    def kill(self):
        """SIGKILL: no chance to clean up, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def request(self, method, path, body=None, headers=None):
        """(status, headers, parsed JSON or bytes)."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                raw, status, h = r.read(), r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            raw, status, h = e.read(), e.code, dict(e.headers)
        try:
            return status, h, json.loads(raw)
        except ValueError:
            return status, h, raw


@pytest.fixture(scope="session")
def broken_models():
    """A models folder with one model that cannot load."""
    d = Path(tempfile.mkdtemp(prefix="lumen-models-"))
    (d / "broken-model").mkdir()
    (d / "broken-model" / "model_index.json").write_text("{ not json")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(broken_models):
    """The default server: the built-in model (our own lumen-tiny) plus a broken model."""
    s = Server(models=broken_models).start()
    yield s
    s.stop()


@pytest.fixture
def make_server():
    started = []

    def make(**kw):
        s = Server(**kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
