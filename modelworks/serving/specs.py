"""Deployment specifications (8.5): CPU flavors cut from this machine, and ``custom`` sizes.

A flavor ``modelarts.vm.cpu.{n}u`` gets ``n`` cores and ``n / cpus`` of the machine's memory, as the
training flavors do. An instance runs with its CPU affinity set to its cores (rotated over the
machine so that instances spread out) and its numeric libraries sized to them; its memory is
reported by the monitor but not capped (an address-space limit breaks frameworks that reserve large
virtual ranges, such as PyTorch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modelworks.compute.engines import machine_arch
from modelworks.compute.flavors import machine_cpus, machine_memory_bytes
from modelworks.errors import InvalidArgument, SpecNotFound

CUSTOM = "custom"
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Spec:
    """What one instance of a model gets."""

    specification: str
    cpu: float
    memory_bytes: int

    @property
    def cores(self) -> int:
        """Whole cores the instance's CPU affinity allows."""
        return max(1, math.ceil(self.cpu - 1e-9))

    @property
    def memory_mb(self) -> int:
        return self.memory_bytes // MIB

    def describe(self) -> dict[str, Any]:
        """As 8.5 lists a flavor (``Specification``)."""
        gib = self.memory_bytes // GIB
        arch = "arm" if machine_arch().startswith("a") else "x86"
        cores = f"{self.cpu:g}"
        return {
            "specification": self.specification,
            "billing_spec": self.specification,
            "category": "CPU",
            "cpu_info": {"arch": arch, "cpu": float(self.cpu)},
            "memory_info": {"unit": "GB", "memory": gib},
            "gpu_info": {"unit": "MB", "gpu": 0.0, "memory": 0},
            "npu_info": {"unit": "MB", "npu": 0, "memory": 0},
            "display_en": f"CPU: {cores} vCPUs | {gib} GiB",
            "display_cn": f"CPU: {cores} Core {gib} GiB",
            "is_open": True,
            "spec_status": "normal",
            "source_type": "",
            "is_free": False,
            "over_quota": False,
            "extend_params": 1,
        }


def machine_specs() -> list[Spec]:
    """The flavors of this machine, smallest first."""
    cpus = len(machine_cpus())
    memory = machine_memory_bytes()
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n < cpus] + [cpus]
    return [Spec(f"modelarts.vm.cpu.{n}u", float(n), memory * n // max(cpus, 1)) for n in sizes]


def _number(raw: Any, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidArgument("must be a number", field=field)
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidArgument("must be a number", field=field) from exc


def custom_spec(raw: Any, field: str) -> tuple[dict[str, Any], Spec]:
    """The normalized ``custom_spec`` and the size it asks for, checked against this machine."""
    if not isinstance(raw, dict):
        raise InvalidArgument("is required when specification is custom (cpu, memory)", field=field)
    if raw.get("gpu_p4") or raw.get("ascend_a310"):
        raise InvalidArgument("this installation has no GPUs or Ascend chips", field=field)
    cpu = round(_number(raw.get("cpu"), f"{field}.cpu"), 2)
    if cpu < 0.01:
        raise InvalidArgument("must be at least 0.01", field=f"{field}.cpu")
    memory = raw.get("memory")
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 1:
        raise InvalidArgument("must be a positive integer (MB)", field=f"{field}.memory")
    cpus = len(machine_cpus())
    if cpu > cpus:
        raise SpecNotFound(f"this machine has {cpus} CPUs", field=f"{field}.cpu")
    total_mb = machine_memory_bytes() // MIB
    if memory > total_mb:
        raise SpecNotFound(f"this machine has {total_mb} MB of memory", field=f"{field}.memory")
    return {"cpu": cpu, "memory": memory}, Spec(CUSTOM, cpu, memory * MIB)


def resolve(specification: Any, custom: Any, field: str) -> Spec:
    """The size an instance of this configuration gets."""
    if not isinstance(specification, str) or not specification:
        raise InvalidArgument("is required", field=f"{field}.specification")
    if specification == CUSTOM:
        return custom_spec(custom, f"{field}.custom_spec")[1]
    specs = machine_specs()
    for spec in specs:
        if spec.specification == specification:
            return spec
    known = ", ".join([s.specification for s in specs] + [CUSTOM])
    raise SpecNotFound(
        f"specification {specification!r} is not offered by this installation; available: {known}",
        field=f"{field}.specification",
    )


def instance_cpus(spec: Spec, slot: int) -> list[int]:
    """The CPUs of instance ``slot``: ``spec.cores`` of the machine's, starting at a rotating offset."""
    cpus = machine_cpus()
    cores = min(spec.cores, len(cpus))
    start = (slot * cores) % len(cpus)
    return [cpus[(start + i) % len(cpus)] for i in range(cores)]
