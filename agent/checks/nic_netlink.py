"""Link up/down from rtnetlink: a pure parser of RTM_NEWLINK/RTM_DELLINK messages, and two
ports that deliver them (a real NETLINK_ROUTE socket, the simulated node's netlink log).

Only what the NIC checks need is parsed: the nlmsghdr, the ifinfomsg that follows it
(ifi_index, ifi_flags) and the IFLA_IFNAME attribute (the name of a link that is being
deleted cannot be looked up by index any more). A link is up when IFF_UP and IFF_RUNNING are
set (RUNNING is the kernel's "operationally up": carrier present and not dormant).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.sim.events import EventLogReader, event_log
from vcbase.logging import get_logger

log = get_logger(__name__)

NLMSG_HDR = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
IFINFOMSG = struct.Struct("=BxHiII")  # ifi_family, pad, ifi_type, ifi_index, ifi_flags, ifi_change
RTATTR = struct.Struct("=HH")  # rta_len, rta_type
RTM_NEWLINK = 16
RTM_DELLINK = 17
IFLA_IFNAME = 3
NLA_TYPE_MASK = 0x3FFF  # drops NLA_F_NESTED / NLA_F_NET_BYTEORDER
RTMGRP_LINK = 1
IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000
_RECV_BYTES = 1 << 16


def _align(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True, slots=True)
class LinkMessage:
    index: int
    flags: int
    name: str | None  # IFLA_IFNAME when the message carried it
    deleted: bool = False  # RTM_DELLINK

    @property
    def up(self) -> bool:
        return not self.deleted and bool(self.flags & IFF_UP) and bool(self.flags & IFF_RUNNING)


def _ifname(attrs: bytes) -> str | None:
    pos = 0
    while pos + RTATTR.size <= len(attrs):
        length, kind = RTATTR.unpack_from(attrs, pos)
        if length < RTATTR.size or pos + length > len(attrs):
            return None
        if kind & NLA_TYPE_MASK == IFLA_IFNAME:
            raw = attrs[pos + RTATTR.size : pos + length].split(b"\0", 1)[0]
            return raw.decode("utf-8", errors="replace") or None
        pos += _align(length)
    return None


def parse_link_messages(data: bytes) -> list[LinkMessage]:
    """The link messages in one netlink datagram, in order. Never raises: other message types
    are skipped, and parsing stops at the first truncated or malformed header."""
    out: list[LinkMessage] = []
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size or offset + length > len(data):
            break
        body = offset + NLMSG_HDR.size
        if kind in (RTM_NEWLINK, RTM_DELLINK) and length >= NLMSG_HDR.size + IFINFOMSG.size:
            _family, _type, index, flags, _change = IFINFOMSG.unpack_from(data, body)
            name = _ifname(data[body + IFINFOMSG.size : offset + length])
            out.append(LinkMessage(index, flags, name, deleted=kind == RTM_DELLINK))
        offset += _align(length)
    return out


class LinkPort(Protocol):
    """Where link messages come from. `read` blocks up to `timeout` seconds."""

    def read(self, timeout: float) -> list[LinkMessage]: ...

    def close(self) -> None: ...


class RtnetlinkPort:
    """A NETLINK_ROUTE socket subscribed to RTMGRP_LINK (no privilege needed to listen).
    OSError from the constructor when netlink is unavailable."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self._sock.bind((0, RTMGRP_LINK))
            self._sock.setblocking(False)
            self._poll = select.poll()
            self._poll.register(self._sock.fileno(), select.POLLIN)
        except BaseException:
            self._sock.close()
            raise

    def read(self, timeout: float) -> list[LinkMessage]:
        if not self._poll.poll(max(timeout, 0) * 1000):
            return []
        messages: list[LinkMessage] = []
        while True:
            try:
                data = self._sock.recv(_RECV_BYTES)
            except BlockingIOError:
                return messages
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                # The kernel dropped messages: the next periodic run of the checks, which read
                # the links afresh, covers what was lost.
                log.warning("netlink_overrun", source="rtnetlink")
                continue
            messages += parse_link_messages(data)

    def close(self) -> None:
        self._sock.close()


class SimNetlinkPort:
    """The simulated node's netlink: "link_changed" records of <sim_dir>/events/netlink.jsonl
    (subject = ifname, data.up = "0"|"1"), turned into the messages a real socket would give."""

    def __init__(self, sim_dir: Path) -> None:
        self._reader = EventLogReader(event_log(sim_dir, "netlink"))

    def read(self, timeout: float) -> list[LinkMessage]:
        messages = []
        for event in self._reader.wait(timeout):
            if event.kind != "link_changed":
                continue
            up = event.data.get("up") == "1"
            flags = IFF_UP | (IFF_RUNNING | IFF_LOWER_UP if up else 0)
            messages.append(LinkMessage(0, flags, event.subject))
        return messages

    def close(self) -> None:
        self._reader.close()
