"""The simulated tree's NIC and host files: real-shaped, read by the same probes as /sys, and
rebuilt when the tree was laid out by an older version."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent.hardware import open_hardware
from agent.probes.host import read_edac, read_mounts, read_process_names
from agent.probes.nic import read_aer, read_cxi_link, read_ib_ports, read_netdev
from agent.profiles import PROFILES
from agent.sim.tree import LAYOUT_VERSION

NODE = "nid000042"


def test_slingshot_nics_have_a_cxi_device_link_attributes_and_aer(tmp_path: Path) -> None:
    hw = open_hardware("mi250x", NODE, tmp_path)
    for n in range(4):
        state = read_netdev(hw.root, f"hsn{n}")
        assert state is not None and state.device is not None
        assert (state.link_up, state.speed_mbps, state.driver) == (True, 200_000, "cxi_ss1")
        cxi = hw.root / f"sys/class/cxi/cxi{n}"
        assert Path(os.path.realpath(cxi / "device")) == state.device
        link = read_cxi_link(state.device)
        assert link is not None and (link.state, link.speed_mbps) == ("up", 200_000)
        aer = read_aer(state.device)
        assert aer is not None and (aer.correctable, aer.uncorrectable) == (0, 0)


def test_the_a100_hca_has_an_active_hdr_port_and_an_ipoib_netdev(tmp_path: Path) -> None:
    hw = open_hardware("a100", NODE, tmp_path)
    port = read_ib_ports(hw.root)[("mlx5_0", 1)]
    assert (port.active, port.rate_mbps, port.link_layer) == (True, 200_000, "InfiniBand")
    counters = hw.root / "sys/class/infiniband/mlx5_0/ports/1/counters"
    assert (counters / "symbol_error").read_text() == "0\n"
    ib0 = read_netdev(hw.root, "ib0")
    assert ib0 is not None and ib0.link_up


def test_host_files_follow_the_profile(tmp_path: Path) -> None:
    hw = open_hardware("gh200", NODE, tmp_path)
    profile = PROFILES["gh200"]
    mounts = read_mounts(hw.root)
    assert set(profile.required_mounts) <= set(mounts)
    assert all((hw.root / m.lstrip("/")).is_dir() for m in profile.required_mounts)
    assert len(read_edac(hw.root)) == profile.cpu_sockets
    assert set(profile.required_processes) <= read_process_names(hw.root)


def test_a_tree_of_an_older_layout_is_rebuilt(tmp_path: Path) -> None:
    hw = open_hardware("rome", NODE, tmp_path)
    marker = hw.root / ".vcluster-sim.json"
    doc = json.loads(marker.read_text())
    assert doc["layout"] == LAYOUT_VERSION
    marker.write_text(json.dumps({"profile": "rome", "node": NODE}))  # as layout 1 wrote it
    (hw.root / "proc/mounts").unlink()
    open_hardware("rome", NODE, tmp_path)
    assert (hw.root / "proc/mounts").exists()
    boot_id = (hw.root / "proc/sys/kernel/random/boot_id").read_text()
    open_hardware("rome", NODE, tmp_path)  # same layout now: reused as is
    assert (hw.root / "proc/sys/kernel/random/boot_id").read_text() == boot_id
