"""The hook executables: `vcagent-prolog`, `vcagent-epilog`, `vcagent-healthcheck`.

Slurm starts one of these per job per node, so this module imports the standard library only,
and only its cheapest parts at start (the C modules `_socket` and `_json` rather than `socket`
and `json`, which pull in enum, selectors and re: several milliseconds). The slow paths (the
fallback check, draining) import what they need when they run. Contract of every entry
function:

- asks the agent on its unix socket (one JSON line each way, `agent.hooks.protocol`) and exits
  0 (pass) or 1 (a check failed), with one stderr line naming the failing checks;
- when no agent answers (no socket, refused, no reply in time, or a refused request), takes the
  fallback path (`check`: run `vcagent check` here, seconds; `fail`: exit 3), and says so on
  stderr: it never passes silently;
- exit 2 for bad options; exit 3 when no verdict could be had (a bug in the hook included).

Options (argv, parsed by hand; else the environment; else the default), docs/hooks.md:
--socket PATH (VCLUSTER_HOOK_SOCKET; %n is the node name), --fallback check|fail
(VCLUSTER_HOOK_FALLBACK), --timeout S (VCLUSTER_HOOK_TIMEOUT), --check-timeout S
(VCLUSTER_HOOK_CHECK_TIMEOUT), --config PATH (VCLUSTER_HOOK_CONFIG, for the fallback check),
--node NAME (SLURMD_NODENAME), --drain auto|always|never (VCLUSTER_HOOK_DRAIN, healthcheck).
"""

from __future__ import annotations

import os
import sys
import time

try:
    import _socket as _net
except ImportError:  # pragma: no cover - not CPython
    import socket as _net  # type: ignore[no-redef]
try:
    from _json import encode_basestring_ascii as quote
    from _json import make_scanner as _make_scanner
except ImportError:  # pragma: no cover - not CPython
    from json.encoder import encode_basestring_ascii as quote
    from json.scanner import make_scanner as _make_scanner

from agent.hooks import DEFAULT_SOCKET, MAX_REPLY, PROTOCOL_VERSION

TYPE_CHECKING = False  # typing itself costs milliseconds; mypy takes this name as True
if TYPE_CHECKING:
    from collections.abc import Mapping

    Env = Mapping[str, str]

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NO_VERDICT = 0, 1, 2, 3
_OPTIONS = {
    "--socket": ("socket", "VCLUSTER_HOOK_SOCKET", DEFAULT_SOCKET),
    "--fallback": ("fallback", "VCLUSTER_HOOK_FALLBACK", "check"),
    "--timeout": ("timeout", "VCLUSTER_HOOK_TIMEOUT", "10"),
    "--check-timeout": ("check_timeout", "VCLUSTER_HOOK_CHECK_TIMEOUT", "30"),
    "--config": ("config", "VCLUSTER_HOOK_CONFIG", ""),
    "--node": ("node", "SLURMD_NODENAME", ""),
    "--drain": ("drain", "VCLUSTER_HOOK_DRAIN", "auto"),
}
_CHOICES = {"fallback": ("check", "fail"), "drain": ("auto", "always", "never")}
_MESSAGE_CHARS = 200  # of each check's message on the stderr line


class UsageError(Exception):
    pass


class _Decoding:
    """What `_json.make_scanner` reads off a JSONDecoder: plain JSON, no hooks."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    def __init__(self) -> None:
        self.memo: dict[str, object] = {}  # read by json.scanner's pure-Python twin only

    @staticmethod
    def parse_constant(name: str) -> object:
        raise ValueError(f"{name} is not JSON")


_scan = _make_scanner(_Decoding())  # type: ignore[arg-type]  # it reads these attributes only


def loads(text: str) -> object:
    """json.loads for one document, without importing json (and re). ValueError if it is not
    exactly one JSON value (whitespace around it is fine)."""
    text = text.strip(" \t\r\n")
    try:
        value, end = _scan(text, 0)
    except (StopIteration, RecursionError):
        raise ValueError("not a JSON document") from None
    if end != len(text):
        raise ValueError(f"extra data after the JSON document at {end}")
    return value


class AgentUnavailable(Exception):
    """No usable answer from the agent; the text says why (for the stderr line)."""


def options(argv: list[str], env: Env) -> dict[str, str]:
    """The options from argv (`--name value` or `--name=value`) over the environment over the
    defaults, validated, with %n in socket and config expanded. UsageError names the option."""
    given: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("-h", "--help"):
            return {"help": "1"}
        if name not in _OPTIONS:
            raise UsageError(f"unknown option {arg!r}")
        if not eq:
            if not args:
                raise UsageError(f"{name} needs a value")
            value = args.pop(0)
        given[_OPTIONS[name][0]] = value
    opts = {key: given.get(key) or env.get(var) or dflt for key, var, dflt in _OPTIONS.values()}
    for key, allowed in _CHOICES.items():
        if opts[key] not in allowed:
            raise UsageError(f"--{key}: expected {' or '.join(allowed)}, got {opts[key]!r}")
    for key in ("timeout", "check_timeout"):
        try:
            ok = 0 < float(opts[key]) <= 3600
        except ValueError:
            ok = False
        if not ok:
            raise UsageError(f"--{key.replace('_', '-')}: expected seconds in (0, 3600]")
    for key in ("socket", "config"):
        if "%n" in opts[key]:
            if not opts["node"]:
                raise UsageError(f"--{key}: %n needs SLURMD_NODENAME or --node")
            opts[key] = opts[key].replace("%n", opts["node"])
    return opts


def request_line(hook: str, job_id: str, user: str, node: str) -> bytes:
    """The request as one JSON line (what `agent.hooks.protocol.parse_request` reads)."""
    parts = [f'"v":{PROTOCOL_VERSION}', f'"hook":{quote(hook)}']
    parts += [
        f'"{k}":{quote(v)}' for k, v in (("job_id", job_id), ("user", user), ("node", node)) if v
    ]
    return ("{" + ",".join(parts) + "}\n").encode("ascii")


def ask(path: str, request: bytes, timeout: float) -> dict[str, object]:
    """Send `request` to the agent at `path`, return its reply. AgentUnavailable otherwise."""
    deadline = time.monotonic() + timeout
    sock = _net.socket(_net.AF_UNIX, _net.SOCK_STREAM)
    chunks: list[bytes] = []
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(request)
        size = 0
        while not chunks or not chunks[-1].endswith(b"\n"):
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REPLY:
                raise AgentUnavailable(f"the agent's reply is longer than {MAX_REPLY} bytes")
    except FileNotFoundError:
        raise AgentUnavailable(f"no agent socket at {path}") from None
    except ConnectionRefusedError:
        raise AgentUnavailable(f"nobody listens on {path} (agent not running)") from None
    except TimeoutError:
        raise AgentUnavailable(f"no reply from the agent on {path} in {timeout:g}s") from None
    except OSError as exc:
        raise AgentUnavailable(f"cannot talk to the agent on {path}: {exc}") from None
    finally:
        sock.close()
    return _reply(b"".join(chunks))


def _reply(data: bytes) -> dict[str, object]:
    if not data.endswith(b"\n"):
        raise AgentUnavailable("the agent closed the connection without a reply")
    try:
        doc = loads(data.decode("utf-8"))
    except ValueError:
        raise AgentUnavailable("the agent's reply is not JSON") from None
    if not isinstance(doc, dict) or doc.get("v") != PROTOCOL_VERSION:
        raise AgentUnavailable(f"the agent's reply is not protocol version {PROTOCOL_VERSION}")
    error = doc.get("error")
    if isinstance(error, dict):
        field, message = error.get("field"), error.get("message")
        raise AgentUnavailable(f"the agent refused the request ({field}: {message})")
    if not isinstance(doc.get("ok"), bool) or not isinstance(doc.get("failing"), list):
        raise AgentUnavailable("the agent's reply lacks ok or failing")
    return doc


def describe(results: object) -> str:
    """`check subject status/action: message; ...` for the stderr line."""
    if not isinstance(results, list):
        return ""
    parts = []
    for r in results:
        if isinstance(r, dict):
            message = " ".join(str(r.get("message", "")).split())[:_MESSAGE_CHARS]
            status = f"{r.get('status')}/{r.get('action')}"
            parts.append(f"{r.get('check')} {r.get('subject')} {status}: {message}")
    return "; ".join(parts)


def _say(hook: str, text: str) -> None:
    sys.stderr.write(f"vcagent-{hook}: {text}\n")
    sys.stderr.flush()


def run(hook: str, argv: list[str], env: Env) -> int:
    """One hook invocation: the exit status Slurm gets. Never raises."""
    try:
        return _run(hook, argv, env)
    except Exception as exc:  # a bug here must still end in one line and a non-zero status
        _say(hook, f"FAIL: no verdict: the hook itself failed: {exc!r}")
        return EXIT_NO_VERDICT


def _run(hook: str, argv: list[str], env: Env) -> int:
    try:
        opts = options(argv, env)
    except UsageError as exc:
        _say(hook, f"usage error: {exc} (see --help)")
        return EXIT_USAGE
    if "help" in opts:
        sys.stdout.write(__doc__ or "")
        return EXIT_OK
    job_id = env.get("SLURM_JOB_ID", "")
    request = request_line(hook, job_id, env.get("SLURM_JOB_USER", ""), opts["node"])
    try:
        reply = ask(opts["socket"], request, float(opts["timeout"]))
    except AgentUnavailable as exc:
        from agent.hooks.fallback import fallback

        return fallback(hook, opts, str(exc), _say, env)
    job = f" job {job_id}" if job_id else ""
    if reply["ok"]:
        notes = [describe(reply.get("warnings"))]
        if reply.get("first_pass") is False:
            notes.insert(0, "the agent is starting: only the live checks answered")
        if any(notes):
            _say(hook, f"ok{job}, with warnings: {'; '.join(n for n in notes if n)}")
        return EXIT_OK
    text = describe(reply["failing"]) or f"status {reply.get('status')}"
    attribution = reply.get("job")
    if isinstance(attribution, dict) and attribution.get("summary"):
        text += f" [during the job: {attribution['summary']}]"
    _say(hook, f"FAIL{job}: {text}")
    if hook == "healthcheck":
        from agent.hooks.fallback import drain_if_needed

        if not opts["node"] and isinstance(reply.get("node"), str):
            opts["node"] = str(reply["node"])  # Slurm gives the healthcheck no SLURMD_NODENAME
        coordinator = reply.get("coordinator") is True
        drain_if_needed(opts, text, coordinator=coordinator, say=_say, env=env)
    return EXIT_FAIL


def main_prolog() -> int:
    return run("prolog", sys.argv[1:], os.environ)


def main_epilog() -> int:
    return run("epilog", sys.argv[1:], os.environ)


def main_healthcheck() -> int:
    return run("healthcheck", sys.argv[1:], os.environ)
