"""Training flavors (5.15) cut from this machine: CPU flavors of 1, 2, 4 ... cores up to all of them.

A flavor of ``n`` cores gets ``n / cpus`` of the physical memory. A job runs with its CPU affinity
set to ``n`` cores and its address space limited to the flavor's memory (see ``process``); the
flavors are what the worker's host offers, so all hosts of a cluster should look alike.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelworks.compute.engines import available_engines, machine_arch
from modelworks.errors import FlavorNotFound

GIB = 1024**3


def machine_cpus() -> list[int]:
    """The CPUs this process may run on (a container or taskset can allow fewer than the machine has)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def machine_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


@dataclass(frozen=True)
class Flavor:
    flavor_id: str
    cores: int
    memory_bytes: int
    disk_gb: int
    arch: str

    @property
    def memory_gb(self) -> int:
        return self.memory_bytes // GIB

    @property
    def flavor_name(self) -> str:
        return f"Computing CPU({self.cores}U) instance"

    def _info(self, disk_size: int | str) -> dict[str, Any]:
        return {
            "max_num": 1,
            "cpu": {"arch": "arm" if self.arch.startswith("a") else "x86", "core_num": self.cores},
            "memory": {"size": self.memory_gb, "unit": "GB"},
            "disk": {"size": disk_size, "unit": "GB"},
        }

    def describe(self) -> dict[str, Any]:
        """As 5.15 lists it (``FlavorResponseWithSupport``)."""
        return {
            "flavor_id": self.flavor_id,
            "flavor_name": self.flavor_name,
            "max_num": 1,
            "flavor_type": "CPU",
            "support_engines": json.dumps([e.engine_id for e in available_engines()]),
            "billing": {"code": self.flavor_id, "unit_num": 1},
            "flavor_info": self._info(self.disk_gb),
            "attributes": {"memory_bytes": str(self.memory_bytes), "arch": self.arch},
        }

    def detail(self) -> dict[str, Any]:
        """``spec.resource.flavor_detail`` of a job that uses this flavor (its disk size is a string)."""
        return {
            "flavor_type": "CPU",
            "billing": {"code": self.flavor_id, "unit_num": 1},
            "flavor_info": self._info(str(self.disk_gb)),
        }


def machine_flavors(home: Path) -> list[Flavor]:
    """The flavors of this machine, smallest first."""
    cpus = len(machine_cpus())
    memory = machine_memory_bytes()
    try:
        disk_gb = shutil.disk_usage(home if home.exists() else home.parent).free // GIB
    except OSError:
        disk_gb = 0
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n < cpus] + [cpus]
    arch = machine_arch()
    return [
        Flavor(f"modelarts.vm.cpu.{n}u", n, memory * n // max(cpus, 1), int(disk_gb), arch) for n in sizes
    ]


def find_flavor(home: Path, flavor_id: str | None, *, field: str = "spec.resource.flavor_id") -> Flavor:
    """The named flavor; none named means the largest (the whole machine)."""
    flavors = machine_flavors(home)
    if not flavor_id:
        return flavors[-1]
    for flavor in flavors:
        if flavor.flavor_id == flavor_id:
            return flavor
    known = ", ".join(f.flavor_id for f in flavors)
    raise FlavorNotFound(
        f"flavor {flavor_id!r} is not offered by this installation; available flavors: {known}",
        field=field,
    )
