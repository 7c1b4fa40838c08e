"""Node type profiles and the pure detection of a node's type from its hardware facts."""

from __future__ import annotations

import pytest

from agent.profiles import GENERIC, PROFILES, Profile, detect_node_type
from vcbase.domain import GpuVendor, NicKind

# What the machine's node types are, independently of how profiles.py spells them:
# name -> (gpu vendor, gpu model, gpu count, logical cores, architecture, slingshot, ethernet,
#          infiniband HCAs)
EXPECTED = {
    "gh200": (GpuVendor.NVIDIA, "NVIDIA GH200 120GB", 4, 288, "aarch64", 4, 1, 0),
    "a100": (GpuVendor.NVIDIA, "NVIDIA A100-SXM4-80GB", 4, 128, "x86_64", 1, 1, 1),
    "mi250x": (GpuVendor.AMD, "AMD Instinct MI250X", 8, 128, "x86_64", 4, 1, 0),
    "mi300a": (GpuVendor.AMD, "AMD Instinct MI300A", 4, 96, "x86_64", 4, 1, 0),
    "rome": (None, "", 0, 128, "x86_64", 1, 1, 0),
}


def test_the_five_node_types_exist() -> None:
    assert set(PROFILES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_matches_the_machine(name: str) -> None:
    vendor, model, gpus, cores, arch, slingshot, ethernet, infiniband = EXPECTED[name]
    profile = PROFILES[name]
    assert profile.name == name
    assert (profile.gpu_vendor, profile.gpu_model, profile.gpu_count) == (vendor, model, gpus)
    assert profile.cpu_cores == cores
    assert profile.architecture == arch
    assert profile.nic_count(NicKind.SLINGSHOT) == slingshot
    assert profile.nic_count(NicKind.ETHERNET) == ethernet
    assert profile.nic_count(NicKind.INFINIBAND) == infiniband
    assert profile.memory_bytes >= 256 * 1024**3
    assert profile.memory_bytes % 1024 == 0
    assert (profile.gpu_memory_bytes > 0) == (gpus > 0)


def test_gh200_is_grace_neoverse_v2_with_slingshot_at_200g() -> None:
    gh200 = PROFILES["gh200"]
    assert gh200.cpu_model == "Neoverse-V2"
    assert gh200.arm_cpu_id == (0x41, 0xD4F)
    assert [n.name for n in gh200.nics if n.kind is NicKind.SLINGSHOT] == [
        "hsn0",
        "hsn1",
        "hsn2",
        "hsn3",
    ]
    assert all(n.speed_mbps == 200_000 for n in gh200.nics if n.kind is NicKind.SLINGSHOT)


def test_a100_has_one_hdr_infiniband_hca() -> None:
    (hca,) = [n for n in PROFILES["a100"].nics if n.kind is NicKind.INFINIBAND]
    assert (hca.name, hca.driver, hca.speed_mbps) == ("mlx5_0", "mlx5_core", 200_000)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_required_mounts_are_absolute_and_daemons_named(name: str) -> None:
    profile = PROFILES[name]
    assert profile.required_mounts
    assert all(m.startswith("/") for m in profile.required_mounts)
    assert {"munged", "slurmd"} <= set(profile.required_processes)


def test_rome_is_two_epyc_7742() -> None:
    rome = PROFILES["rome"]
    assert rome.cpu_model == "AMD EPYC 7742 64-Core Processor"
    assert (rome.cpu_sockets, rome.cores_per_socket) == (2, 64)


def test_profiles_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        PROFILES["x"] = PROFILES["rome"]  # type: ignore[index]


def _facts(profile: Profile) -> tuple[str, list[str]]:
    return profile.cpu_model, [profile.gpu_model] * profile.gpu_count


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_profile_is_recognised_from_its_facts(name: str) -> None:
    cpu, gpus = _facts(PROFILES[name])
    assert detect_node_type(cpu, gpus) == name


def test_a_gpu_node_with_a_lost_gpu_keeps_its_type() -> None:
    assert detect_node_type("Neoverse-V2", ["NVIDIA GH200 120GB"] * 3) == "gh200"


def test_gpu_model_decides_before_cpu_model() -> None:
    assert detect_node_type("AMD EPYC 7742 64-Core Processor", ["NVIDIA A100-PCIE-40GB"]) == "a100"


def test_unknown_gpu_is_generic_even_on_a_known_cpu() -> None:
    assert detect_node_type("AMD EPYC 7742 64-Core Processor", ["NVIDIA H100 80GB HBM3"]) == GENERIC


def test_matching_ignores_case() -> None:
    assert detect_node_type("x", ["amd instinct mi250x / mi250"]) == "mi250x"
    assert detect_node_type("amd epyc 7742 64-core processor", []) == "rome"


@pytest.mark.parametrize(
    "cpu",
    ["AMD EPYC", "AMD EPYC 7713 64-Core Processor", "Neoverse-V2", "", "unknown"],
)
def test_cpu_only_nodes_without_a_profile_are_generic(cpu: str) -> None:
    assert detect_node_type(cpu, []) == GENERIC
