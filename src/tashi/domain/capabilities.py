"""What a host's drivers can do, as data: reported by its agent in each heartbeat,
kept by the manager per host (:attr:`tashi.domain.models.Host.capabilities`), shown by
``tashi host show``; what instances ask of it is :mod:`tashi.domain.needs`.

- :class:`HypervisorFacts`: what the hypervisor is (name, version, accelerator, CPU
  model, machine types: what a live migration between two hosts must match) and what
  it runs (NIC models, network kinds, disk kinds and formats: what instances may ask).
- :class:`Ability`: an optional operation, present when the driver implements its
  protocol (pause, suspend, live migration, console, VNC).

Pure: no I/O, and nothing of ours imported (:mod:`tashi.domain.models` imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NicModel(StrEnum):
    """The NIC models Tashi's drivers know by name (each driver maps them to devices)."""

    VIRTIO = "virtio"
    E1000 = "e1000"


class DiskKind(StrEnum):
    """How a host provides an instance's disk."""

    OVERLAY = "overlay"  # a private copy-on-write overlay over the image
    IMAGE = "image"  # the image itself, written to (a persistent disk)
    BLANK = "blank"  # an empty qcow2 disk of a given size
    SCRATCH = "scratch"  # a sparse file of a given size in the host's scratch space
    SEED = "seed"  # a cloud-init NoCloud seed: a read-only ISO 9660 disk labelled cidata


class Ability(StrEnum):
    """An optional driver protocol; the value is its wire name."""

    CONSOLE = "console"
    PAUSE = "pause"
    REBOOT = "reboot"
    SUSPEND = "suspend"
    LIVE_MIGRATION = "live-migration"
    VNC = "vnc"


@dataclass(frozen=True, slots=True)
class HypervisorFacts:
    """A host's hypervisor as its driver measured it (once, when the agent started)."""

    hypervisor: str  # the driver: "qemu", "fake"
    version: str = ""  # the hypervisor's own version, e.g. "8.2.2" ("": unknown)
    accelerator: str = ""  # "kvm", "tcg"; "" for none (a simulation)
    cpu_model: str = ""  # the CPU guests see: "max" (TCG), "host" (KVM)
    host_cpu: str = ""  # the host CPU's model name, e.g. "AMD EPYC 7B13" ("": unknown)
    machine_types: frozenset[str] = frozenset()  # e.g. {"pc"}
    nic_models: frozenset[str] = frozenset()  # e.g. {"virtio", "e1000"}
    network_kinds: frozenset[str] = frozenset()  # the kinds of network its NICs join
    disk_kinds: frozenset[str] = frozenset()  # "overlay" (over an image), "image" (itself)
    disk_formats: frozenset[str] = frozenset()  # the image formats it opens


@dataclass(frozen=True, slots=True)
class HostCapabilities:
    """What a host can do: its hypervisor's facts and the optional abilities."""

    facts: HypervisorFacts
    abilities: frozenset[Ability] = frozenset()

    def can(self, ability: Ability) -> bool:
        return ability in self.abilities
