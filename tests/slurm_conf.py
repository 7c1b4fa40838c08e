"""slurm.conf and the reboot emulation script for tests/slurm.py (see docs/slurm.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

# RebootProgram: slurmd runs it as `sh -c <path>`, without arguments and without the node's name.
# Walk up from our parent to the slurmd that ran us, read `-N <name>` from its command line, and
# from a detached session stop that slurmd and start `slurmd -b -N <name>` (-b: report a reboot).
REBOOT_SCRIPT = r"""#!/bin/sh
export SLURM_CONF='@SLURM_CONF@'
pid=$PPID
while [ "$pid" -gt 1 ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != slurmd ]; do
  pid=$(sed 's/.*) //' /proc/"$pid"/stat | cut -d' ' -f2)
done
if [ "$pid" -le 1 ]; then echo "reboot.sh: no slurmd above pid $$" >&2; exit 1; fi
name=$(tr '\0' '\n' < /proc/"$pid"/cmdline | sed -n '/^-N$/{n;p;q;}')
if [ -z "$name" ]; then echo "reboot.sh: slurmd $pid has no -N" >&2; exit 1; fi
setsid sh -c '
  while [ -e /proc/$1/stat ] && [ "$(sed "s/.*) //" /proc/$1/stat | cut -d" " -f1)" != Z ]; do
    kill "$1" 2>/dev/null; sleep 0.1
  done
  exec /usr/sbin/slurmd -b -N "$2"
' reboot "$pid" "$name" </dev/null >/dev/null 2>&1 &
exit 0
"""


def render_conf(
    root: Path,
    *,
    ctld_port: int,
    node_ports: Mapping[str, int],
    prolog: Path | None = None,
    epilog: Path | None = None,
    prolog_flags: str | None = None,
    health_check_program: Path | None = None,
    health_check_interval: int = 0,
    cpus: int = 1,
    extra: Sequence[str] = (),
) -> str:
    """The slurm.conf of a cluster rooted at `root`, as REAL-COMPONENTS.md describes it.

    Every node is localhost with its own slurmd port; munged's socket is `root/munge/munge.socket`.
    """
    lines = [
        "ClusterName=vctest",
        "SlurmctldHost=localhost(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={min(node_ports.values())}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool/%n",
        f"SlurmctldPidFile={root}/run/slurmctld.pid",
        f"SlurmdPidFile={root}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd-%n.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SlurmdParameters=config_overrides",
        "SchedulerParameters=batch_sched_delay=0",  # sbatch jobs start in ~1 s, not ~3 s
        "ReturnToService=2",
        "SlurmdTimeout=30",
        "ResumeTimeout=60",
        "MailProg=/bin/true",
        f"RebootProgram={root}/reboot.sh",
    ]
    if prolog is not None:
        lines.append(f"Prolog={prolog}")
    if epilog is not None:
        lines.append(f"Epilog={epilog}")
    if prolog_flags:
        lines.append(f"PrologFlags={prolog_flags}")
    if health_check_program is not None:
        lines.append(f"HealthCheckProgram={health_check_program}")
        if health_check_interval > 0:
            lines.append(f"HealthCheckInterval={health_check_interval}")
    lines += extra
    for name, port in node_ports.items():
        lines.append(
            f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} "
            f"CPUs={cpus} RealMemory=500 State=UNKNOWN"
        )
    lines.append("PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"
