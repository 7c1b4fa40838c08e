"""Slurm Prolog / Epilog / HealthCheckProgram hooks: a thin client of the running agent.

The hook executables (`vcagent-prolog`, `vcagent-epilog`, `vcagent-healthcheck`,
`agent.hooks.client`) must answer in milliseconds, so they import the standard library only;
the agent side (`agent.hooks.server`, `agent.hooks.protocol`, `agent.hooks.postjob`) may import
anything. This package's own module therefore imports nothing: it only holds the constants
both sides share. docs/hooks.md explains the protocol and the policies.
"""

PROTOCOL_VERSION = 1
DEFAULT_SOCKET = "/var/lib/vcluster/agent/hook.sock"
SOCKET_NAME = "hook.sock"  # the agent's default: <state_dir>/hook.sock
MAX_REQUEST = 4096  # bytes in a request line, not counting its newline; longer is refused
MAX_REPLY = 1 << 20  # bytes the client reads at most (a reply lists failing results only)
HOOKS = ("prolog", "epilog", "healthcheck")
DRAIN_PREFIX = "vcluster: "  # every drain reason the hooks set starts with it
