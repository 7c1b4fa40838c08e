"""GPU probes: loading the real libraries, faults injected through gpus.json, old pynvml bytes."""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from agent.probes.gpu_amd import AMDSMI_UNAVAILABLE, _vram_bytes, amd_gpus, load_amdsmi
from agent.probes.gpu_nvidia import NvmlMemoryInfo, NvmlPciInfo, load_nvml, nvidia_gpus, text
from agent.profiles import PROFILES
from agent.sim.amdsmi import SimAmdSmi
from agent.sim.nvml import NVML_ERROR_GPU_IS_LOST, SimNvml
from agent.sim.tree import SimGpuState, gpu_state_for, read_gpu_state, write_gpu_state

Logs = list[MutableMapping[str, Any]]


def _named(logs: Logs, event: str) -> Logs:
    return [entry for entry in logs if entry.get("event") == event]


def _sim_state(tmp_path: Path, profile: str) -> tuple[Path, SimGpuState]:
    path = tmp_path / "gpus.json"
    state = gpu_state_for(PROFILES[profile], "nid000001")
    write_gpu_state(path, state)
    return path, state


def _with_device(state: SimGpuState, index: int, **changes: Any) -> SimGpuState:
    devices = list(state.devices)
    devices[index] = dataclasses.replace(devices[index], **changes)
    return dataclasses.replace(state, devices=tuple(devices))


@pytest.mark.skipif(Path("/proc/driver/nvidia").exists(), reason="an NVIDIA driver is loaded")
def test_load_nvml_without_a_driver_warns_and_returns_none(logs: Logs) -> None:
    assert load_nvml() is None
    (entry,) = _named(logs, "nvml_unavailable")
    assert entry["log_level"] == "warning"
    assert entry["error_type"] == "NVMLError_LibraryNotFound"


def test_load_nvml_returns_the_initialised_module(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")
    inits: list[int] = []
    fake.NVMLError = RuntimeError  # type: ignore[attr-defined]
    fake.nvmlInit = lambda: inits.append(1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert load_nvml() is fake
    assert inits == [1]


def test_load_amdsmi_not_installed_returns_none_quietly(logs: Logs) -> None:
    assert load_amdsmi() is None
    assert _named(logs, "amdsmi_not_installed")
    assert not _named(logs, "amdsmi_unavailable")


def _fake_amdsmi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    package = tmp_path / "fakes" / "amdsmi"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path / "fakes"))
    monkeypatch.delitem(sys.modules, "amdsmi", raising=False)


@pytest.mark.parametrize("error", ["KeyError('ROCM_PATH')", "OSError('libamd_smi.so')"])
def test_load_amdsmi_without_rocm_warns_once_and_returns_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs, error: str
) -> None:
    _fake_amdsmi(tmp_path, monkeypatch, f"raise {error}\n")
    assert load_amdsmi() is None
    (entry,) = _named(logs, "amdsmi_unavailable")
    assert entry["log_level"] == "warning"
    assert entry["message"] == AMDSMI_UNAVAILABLE


def test_load_amdsmi_init_failure_returns_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    body = (
        "class AmdSmiException(Exception):\n    pass\n"
        "def amdsmi_init(flag=2):\n    raise AmdSmiException('driver not loaded')\n"
    )
    _fake_amdsmi(tmp_path, monkeypatch, body)
    assert load_amdsmi() is None
    assert _named(logs, "amdsmi_unavailable")[0]["error"] == "driver not loaded"


def test_load_amdsmi_returns_the_initialised_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "AmdSmiException = Exception\nINITS = []\n"
    body += "def amdsmi_init(flag=2):\n    INITS.append(flag)\n"
    _fake_amdsmi(tmp_path, monkeypatch, body)
    api = load_amdsmi()
    assert api is sys.modules["amdsmi"]
    assert getattr(api, "INITS", None) == [2]


def test_gpu_state_file_roundtrips_and_leaves_no_temporaries(tmp_path: Path) -> None:
    path, state = _sim_state(tmp_path, "mi250x")
    assert read_gpu_state(path) == state
    write_gpu_state(path, _with_device(state, 3, lost=True))
    assert read_gpu_state(path).devices[3].lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpus.json"]


def test_removed_gpu_disappears_from_a_running_sim(tmp_path: Path) -> None:
    path, state = _sim_state(tmp_path, "gh200")
    sim = SimNvml(path)
    sim.nvmlInit()
    last = sim.nvmlDeviceGetHandleByIndex(3)
    write_gpu_state(path, dataclasses.replace(state, devices=state.devices[:3]))
    assert sim.nvmlDeviceGetCount() == 3
    with pytest.raises(sim.NVMLError) as caught:
        sim.nvmlDeviceGetName(last)
    assert caught.value.value == NVML_ERROR_GPU_IS_LOST
    assert len(nvidia_gpus(sim)) == 3


def test_handle_to_a_replaced_device_is_stale(tmp_path: Path) -> None:
    path, state = _sim_state(tmp_path, "a100")
    nvml, amd = SimNvml(path), SimAmdSmi(path)
    nvml.nvmlInit()
    amd.amdsmi_init()
    first = nvml.nvmlDeviceGetHandleByIndex(0)
    first_amd = amd.amdsmi_get_processor_handles()[0]
    write_gpu_state(path, dataclasses.replace(state, devices=state.devices[1:]))
    with pytest.raises(nvml.NVMLError) as caught:
        nvml.nvmlDeviceGetUUID(first)
    assert caught.value.value == NVML_ERROR_GPU_IS_LOST
    with pytest.raises(amd.AmdSmiException):
        amd.amdsmi_get_gpu_device_uuid(first_amd)
    assert nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(0)) == state.devices[1].uuid


def test_lost_nvidia_gpu_is_left_out_with_a_warning(tmp_path: Path, logs: Logs) -> None:
    path, state = _sim_state(tmp_path, "gh200")
    write_gpu_state(path, _with_device(state, 1, lost=True))
    sim = SimNvml(path)
    sim.nvmlInit()
    assert [g.index for g in nvidia_gpus(sim)] == [0, 2, 3]
    (entry,) = _named(logs, "nvml_device_failed")
    assert (entry["index"], entry["error"]) == (1, "GPU is lost")


def test_corrupt_state_makes_nvml_enumeration_fail_softly(tmp_path: Path, logs: Logs) -> None:
    path, _ = _sim_state(tmp_path, "a100")
    sim = SimNvml(path)
    sim.nvmlInit()
    path.write_text("{not json")
    assert nvidia_gpus(sim) == ()
    assert _named(logs, "nvml_enumeration_failed")


def test_lost_amd_gcd_is_left_out_with_a_warning(tmp_path: Path, logs: Logs) -> None:
    path, state = _sim_state(tmp_path, "mi250x")
    write_gpu_state(path, _with_device(state, 7, lost=True))
    sim = SimAmdSmi(path)
    sim.amdsmi_init()
    assert [g.index for g in amd_gpus(sim)] == list(range(7))
    assert _named(logs, "amdsmi_device_failed")[0]["index"] == 7


def test_amd_enumeration_failure_is_soft(tmp_path: Path, logs: Logs) -> None:
    path, _ = _sim_state(tmp_path, "mi300a")
    sim = SimAmdSmi(path)
    sim.amdsmi_init()
    path.unlink()
    assert amd_gpus(sim) == ()
    assert _named(logs, "amdsmi_enumeration_failed")


@pytest.mark.parametrize(
    ("vram", "size"),
    [({"vram_size": 65536}, 64 * 1024**3), ({"vram_size_mb": 1024}, 1024**3), ({}, 0)],
)
def test_vram_size_key_of_every_rocm(vram: dict[str, Any], size: int) -> None:
    assert _vram_bytes(vram) == size


class _OldPynvml:
    """pynvml before 11.x: the same calls, but names, uuids and versions come back as bytes."""

    def __init__(self, inner: SimNvml) -> None:
        self._inner = inner
        self.NVMLError = inner.NVMLError

    def nvmlInit(self) -> None:
        self._inner.nvmlInit()

    def nvmlShutdown(self) -> None:
        self._inner.nvmlShutdown()

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return self._inner.nvmlSystemGetDriverVersion().encode()

    def nvmlDeviceGetCount(self) -> int:
        return self._inner.nvmlDeviceGetCount()

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object:
        return self._inner.nvmlDeviceGetHandleByIndex(index)

    def nvmlDeviceGetName(self, handle: object) -> bytes:
        return self._inner.nvmlDeviceGetName(handle).encode()

    def nvmlDeviceGetUUID(self, handle: object) -> bytes:
        return self._inner.nvmlDeviceGetUUID(handle).encode()

    def nvmlDeviceGetPciInfo(self, handle: object) -> NvmlPciInfo:
        return self._inner.nvmlDeviceGetPciInfo(handle)

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> NvmlMemoryInfo:
        return self._inner.nvmlDeviceGetMemoryInfo(handle, version)


def test_old_pynvml_bytes_are_decoded(tmp_path: Path) -> None:
    path, _ = _sim_state(tmp_path, "gh200")
    inner = SimNvml(path)
    old = _OldPynvml(inner)
    old.nvmlInit()
    assert nvidia_gpus(old) == nvidia_gpus(inner)
    assert nvidia_gpus(old)[0].model == "NVIDIA GH200 120GB"
    assert text(b"caf\xc3\xa9") == "café"
