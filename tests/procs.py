"""Real processes for integration tests: vccoord and vcagent started from their entry points."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> Proc:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill9(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 15) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def vccoord(tmp: Path, port: int, *extra: str, db: Path | None = None) -> Proc:
    return Proc(
        "vccoord",
        [
            str(BIN / "vccoord"),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(db or tmp / "coord.db"),
            *extra,
        ],
        tmp / "vccoord.log",
    )


def vcagent(tmp: Path, port: int, name: str, profile: str, *extra: str) -> Proc:
    return Proc(
        name,
        [
            str(BIN / "vcagent"),
            "run",
            "--coordinator",
            f"127.0.0.1:{port}",
            "--node-name",
            name,
            "--state-dir",
            str(tmp / name),
            "--simulate",
            profile,
            *extra,
        ],
        tmp / f"{name}.log",
    )


def vcctl(
    port: int | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "vcctl")]
    if port is not None:
        argv += ["--coordinator", f"127.0.0.1:{port}"]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
