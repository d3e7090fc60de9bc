"""Real ``grassroots`` processes for the tests: a command run to its end, and
``grassroots serve`` on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        return f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [GRASSROOTS, *args],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Result:
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return Result(process.returncode, stdout, stderr)


def run(*args: str, env: dict[str, str]) -> Result:
    return finish(start(*args, env=env))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ask(url: str, body: dict[str, Any] | None = None, token: str = "") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data, headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, list[str], subprocess.Popen[str]]]:
    """A ``grassroots serve`` process on a free loopback port: its base URL, the lines it
    has logged so far, and the process."""
    port = free_port()
    process = start("serve", "--host", "127.0.0.1", "--port", str(port), env=env)
    log: list[str] = []

    def collect(stream: Any) -> None:
        for line in stream:
            log.append(line)

    readers = [
        threading.Thread(target=collect, args=(s,), daemon=True)
        for s in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    url = ""
    deadline = time.monotonic() + 120
    while not url and time.monotonic() < deadline and process.poll() is None:
        for line in list(log):
            if "GraphQL API: http://" in line:
                url = line.split("http://")[1].split("/graphql")[0]
        time.sleep(0.05)
    try:
        assert url, "".join(log)
        base = f"http://{url}"
        while time.monotonic() < deadline:  # it prints its address before it listens
            try:
                if ask(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        yield base, log, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(timeout=10)
