"""Whole commands as child processes: wall time and peak memory (RSS) of each, its own.

``os.wait4`` returns the resource usage of the one child it waited for, but on Linux a
process's peak RSS starts from its parent's: exec records the peak of the memory it
replaces, which a forked child shares with its parent. So a command run straight from
the bench would report at least the bench's own peak (746 MB at city scale, whatever
the command). ``run`` starts each command from a small launcher (``LAUNCH``), a fresh
interpreter that forks it, waits for it and writes its peak RSS and wall time to a file.
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


LAUNCH = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as figures:
    figures.write(f"{usage.ru_maxrss} {time.perf_counter() - start}")
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs ``argv[2:]`` as a grandchild of the bench: forked from this small process, its
peak RSS is its own. Writes that peak (KiB) and its wall time to the file ``argv[1]``."""


def run(args: Sequence[str], env: dict[str, str] | None = None, *, show_errors: bool = True) -> Ran:
    """Run a command to its end; its stdout is returned, its stderr passed through (a
    measuring child's progress lines) or kept and shown only when it fails."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as figures,
    ):
        launched = [sys.executable, "-c", LAUNCH, figures.name, *args]
        child = subprocess.Popen(launched, stdout=out, stderr=None if show_errors else err, env=env)
        code = child.wait()
        written = figures.read().split()  # nothing if the launcher itself was killed
        kib, wall = written if len(written) == 2 else ("0", "0")
        rss_mb, seconds = int(kib) / 1024, float(wall)
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
            # straight from the bench (a launcher would stand between the signal and it):
            # a peak below the bench's own is reported as the bench's (see above)
            _, served.rss_mb, _ = _finish(child, start)
