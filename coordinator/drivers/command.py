"""Running an external command from the event loop, with a deadline, never through a shell.

Contract of `run_command`:
- The command runs in its own session (process group); stdin is /dev/null.
- It returns a `CommandResult` only for exit code 0; a non-zero exit raises `CommandFailedError`.
- Past `time_limit` seconds the whole process group is killed (SIGKILL), the process reaped, and
  `CommandTimeoutError` (transient) raised. Cancelling the awaiting task kills the group the same
  way before the cancellation propagates. A hung command can never outlive its call.
- Every error keeps the command, its exit code (None if it never ran), stdout and stderr (as
  much as was read before a kill).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vcbase.errors import TerminalError, TransientError, VclusterError
from vcbase.logging import get_logger

log = get_logger(__name__)

_READ_AFTER_KILL_S = 1.0  # a grandchild that left the group may still hold our pipes open


@dataclass(frozen=True, slots=True)
class CommandResult:
    cmd: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandError(VclusterError):
    """An external command failed; keeps what it saw."""

    def __init__(
        self,
        problem: str,
        *,
        cmd: Sequence[str],
        returncode: int | None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        detail = stderr.strip() or stdout.strip()
        super().__init__(f"{shlex.join(cmd)}: {problem}" + (f": {detail[-500:]}" if detail else ""))
        self.cmd = tuple(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class CommandTimeoutError(CommandError, TransientError):
    """The command ran past its deadline and was killed."""


class CommandFailedError(CommandError, TerminalError):
    """The command exited non-zero (or could not be started, or said something unexpected)."""


class SchedulerUnavailableError(CommandError, TransientError):
    """The command could not reach its service (e.g. slurmctld down): worth a retry."""


async def run_command(
    argv: Sequence[str], *, time_limit: float, env: Mapping[str, str] | None = None
) -> CommandResult:
    """Run `argv` (see the module contract); `env` replaces the environment when given."""
    cmd = tuple(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except OSError as e:
        raise CommandFailedError(f"cannot start: {e}", cmd=cmd, returncode=None) from e
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    readers = [
        asyncio.create_task(_read_into(proc.stdout, out)),
        asyncio.create_task(_read_into(proc.stderr, err)),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*readers, proc.wait()), time_limit)
    except TimeoutError:
        await _kill(proc, readers)
        log.warning("command_timed_out", cmd=shlex.join(cmd), time_limit_s=time_limit, pid=proc.pid)
        raise CommandTimeoutError(
            f"timed out after {time_limit:g}s, killed",
            cmd=cmd,
            returncode=proc.returncode,
            stdout=_text(out),
            stderr=_text(err),
        ) from None
    except BaseException:
        await _kill(proc, readers)
        raise
    result = CommandResult(cmd, proc.returncode or 0, _text(out), _text(err))
    if proc.returncode != 0:
        raise CommandFailedError(
            f"exited {proc.returncode}",
            cmd=cmd,
            returncode=proc.returncode,
            stdout=result.stdout,
            stderr=result.stderr,
        )
    return result


async def _read_into(stream: asyncio.StreamReader, buf: bytearray) -> None:
    while chunk := await stream.read(65536):
        buf += chunk


async def _kill(proc: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> None:
    """SIGKILL the process group, reap the process, and stop reading (kept: what was read)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()  # the group is gone already, unless the process changed its group
    # Shielded: a second cancellation must not leave a zombie or a pending read behind.
    await asyncio.shield(_reap(proc, readers))


async def _reap(proc: asyncio.subprocess.Process, readers: list[asyncio.Task[None]]) -> None:
    await proc.wait()
    _done, pending = await asyncio.wait(readers, timeout=_READ_AFTER_KILL_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def _text(buf: bytearray) -> str:
    return buf.decode("utf-8", errors="replace")
