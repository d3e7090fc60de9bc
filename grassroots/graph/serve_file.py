"""How a CLI command finds the ``grassroots serve`` that holds its embedded store.

``grassroots serve`` writes ``serve.json`` in the data folder (``url`` on loopback,
``pid`` and a random ``secret``; mode 0600; removed on exit), and it is believed only
while its pid lives and its url answers with that secret: a file left by a serve killed
with ``kill -9`` is ignored. What a command does once it found one is
``grassroots.graph.served``'s.

Apart from ``served`` because every command that opens the embedded store asks, and
almost always finds no file: the HTTP client is loaded only to ask a server that the
file names (loading it costs more than opening a city's store).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import orjson

from grassroots.graph.store import process_alive

SERVE_FILE = "serve.json"
PREFIX = "/_local"  # the private endpoints' path, beside /graphql and /healthz


class HandOff(Exception):  # control flow, never shown: open_store catches it
    """Raised while opening waits for a file that a live serve holds."""

    def __init__(self, server: Server) -> None:
        super().__init__(server.url)
        self.server = server


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.secret}"}


def running(data: Path) -> Server | None:
    """The live serve that ``data/serve.json`` names, or None (no file, a dead pid, a
    url that does not answer, or answers without knowing the secret, or a serve of
    another folder: a copy of a served folder copies its file too)."""
    try:
        record = orjson.loads((data / SERVE_FILE).read_bytes())
        server = Server(str(record["url"]), int(record["pid"]), str(record["secret"]))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not process_alive(server.pid):
        return None
    import httpx  # here, not above: see the module's docstring

    try:
        answer = httpx.post(f"{server.url}{PREFIX}/ping", headers=server.headers, timeout=5)
        held = orjson.loads(answer.content) if answer.status_code == 200 else {}
        if held.get("pid") != server.pid or held.get("data") != str(data.resolve()):
            return None
    except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError):
        return None
    return server


def handing_off(data: Path) -> Callable[[], None]:
    """For ``DuckStore(waiting=...)``: stop waiting for the file once a live serve holds it."""
    last = [0.0]

    def check() -> None:
        if time.monotonic() - last[0] < 1.0:  # a probe costs a request: once a second
            return
        last[0] = time.monotonic()
        server = running(data)
        if server is not None:
            raise HandOff(server)

    return check


@contextmanager
def announced(data: Path, url: str, secret: str) -> Iterator[Path]:
    """``serve.json`` for as long as this process serves: readable by its user only."""
    path = data / SERVE_FILE
    partial = data / f"{SERVE_FILE}.{os.getpid()}"
    body = orjson.dumps({"url": url, "pid": os.getpid(), "secret": secret})
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(body)
    partial.replace(path)
    try:
        yield path
    finally:
        with suppress(OSError, orjson.JSONDecodeError, AttributeError):
            if orjson.loads(path.read_bytes()).get("pid") == os.getpid():
                path.unlink()
