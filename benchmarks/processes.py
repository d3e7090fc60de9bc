"""Whole commands as child processes: wall time and peak memory (RSS) of each, its own.

``os.wait4`` returns the resource usage of the one child it waited for, so every
command's peak RSS is its own (``RUSAGE_CHILDREN`` would give the largest child so far).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def grassroots() -> list[str]:
    """The installed ``grassroots`` command, as a planner runs it."""
    script = BIN / "grassroots"
    return [str(script)] if script.exists() else [sys.executable, "-m", "grassroots.cli"]


@dataclass(frozen=True)
class Ran:
    seconds: float
    rss_mb: float
    stdout: str


def _finish(child: subprocess.Popen[bytes], start: float) -> tuple[float, float, int]:
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    return seconds, usage.ru_maxrss / 1024, child.returncode


def run(args: Sequence[str], env: dict[str, str] | None = None, *, show_errors: bool = True) -> Ran:
    """Run a command to its end; its stdout is returned, its stderr passed through (a
    measuring child's progress lines) or kept and shown only when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=None if show_errors else err, env=env)
        seconds, rss_mb, code = _finish(child, start)
        out.seek(0)
        text = out.read().decode("utf-8")
        if code != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode("utf-8", "replace"))
            raise SystemExit(f"`{' '.join(args)}` failed with exit status {code}")
    return Ran(seconds, rss_mb, text)


def best(args: Sequence[str], env: dict[str, str] | None = None, repeat: int = 3) -> Ran:
    """The fastest of ``repeat`` runs (the peak RSS is the largest of them)."""
    runs = [run(args, env, show_errors=False) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r.seconds)
    return Ran(fastest.seconds, max(r.rss_mb for r in runs), fastest.stdout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    rss_mb: float = 0.0  # known once the server has stopped


@contextmanager
def serve(env: dict[str, str], timeout: float = 300.0) -> Iterator[Served]:
    """A real ``grassroots serve`` on a loopback port, up once /healthz answers; stopped
    (SIGINT, as Ctrl-C stops it) when the block ends, its peak RSS then recorded."""
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    child = subprocess.Popen(
        [*grassroots(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    try:
        while True:
            if child.poll() is not None:
                raise SystemExit(f"grassroots serve exited with status {child.returncode}")
            try:
                if httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > timeout:
                raise SystemExit(f"grassroots serve did not answer within {timeout:.0f} s")
            time.sleep(0.1)
        yield served
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGINT)
            _, served.rss_mb, _ = _finish(child, start)
