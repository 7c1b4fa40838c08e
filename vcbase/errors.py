"""The error hierarchy: one base, split by what the caller should do about it."""

from __future__ import annotations


class VclusterError(Exception):
    """Base of every error this project raises on purpose."""


class TransientError(VclusterError):
    """Worth retrying with backoff: a peer is down, a lock is busy, a call timed out."""


class TerminalError(VclusterError):
    """Retrying will not help: record it and stop."""


class ValidationError(TerminalError):
    """An input from outside (config, manifest, RPC message, CLI argument) is malformed.

    `field` names the offending field (dotted path) so the message can point at it.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class ConflictError(TerminalError):
    """The request contradicts state held elsewhere (a name held by another machine, ...)."""


class NotFoundError(TerminalError):
    """The named object does not exist."""
