"""Capabilities as data: what the fake and QEMU drivers report, the rule of whether a
host offers what an instance needs, the scheduler's filter on it, and its documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tashi.agent.drivers.base import (
    DiskPlan,
    NicPlan,
    Pausable,
    Rebootable,
    VmRequest,
    abilities_of,
    capabilities_of,
)
from tashi.agent.drivers.composition import Composition, compose
from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.drivers.network import UserNic
from tashi.agent.drivers.qemu import Accelerator, QemuDriver
from tashi.agent.drivers.qemu.argv import NIC_DEVICES, build_argv
from tashi.agent.drivers.qemu.facts import host_cpu_model, parse_version
from tashi.agent.drivers.qemu.runtime import RuntimeLayout
from tashi.api.schemas import CapabilitiesWire
from tashi.domain.capabilities import Ability, DiskKind, HostCapabilities, HypervisorFacts
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat
from tashi.domain.needs import BUILTIN, Needs, never_met
from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.explain import explain, run_filters
from tashi.scheduler.filters import CapabilityFilter
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest
from tashi.store.capabilities import capabilities_doc, capabilities_from_doc

MAC = "52:54:00:00:00:07"
CPUINFO = Path("/proc/cpuinfo").read_text()


def caps(*nic_models: str, kinds: tuple[str, ...] = ("user",),
         abilities: frozenset[Ability] = frozenset()) -> HostCapabilities:
    return HostCapabilities(HypervisorFacts("qemu", "8.2.2", nic_models=frozenset(nic_models),
                                            network_kinds=frozenset(kinds)), abilities)


def needs(*nic_models: str, kinds: tuple[str, ...] = ()) -> Needs:
    return Needs(frozenset(nic_models), frozenset(kinds))


# --- the drivers' capability data ----------------------------------------------------------
#: What both drivers implement today (live migration comes with its issue).
FAKE_ABILITIES = {Ability.CONSOLE, Ability.PAUSE, Ability.REBOOT, Ability.SUSPEND, Ability.VNC}
ALL_ABILITIES = FAKE_ABILITIES | {Ability.LIVE_MIGRATION}  # the fake driver cannot migrate


async def test_fake_driver_capabilities() -> None:
    got = await capabilities_of(FakeDriver())
    assert got.abilities == FAKE_ABILITIES
    assert got.facts.hypervisor == "fake"
    assert got.facts.version == "simulation"
    assert got.facts.nic_models == {"virtio", "e1000"}
    assert got.facts.network_kinds == {"user"}
    assert got.facts.disk_kinds == {"overlay", "image", "blank", "scratch", "seed"}
    assert got.facts.disk_formats == {"qcow2", "raw"}
    narrow = await capabilities_of(FakeDriver(nic_models=["virtio"]))
    assert narrow.facts.nic_models == {"virtio"}


async def test_fake_driver_refuses_a_nic_model_it_does_not_offer() -> None:
    driver = FakeDriver(nic_models=["virtio"])
    request = VmRequest(1, "vm", 1, 128, (), (NicPlan(MAC, "e1000", "user"),))
    with pytest.raises(DriverError, match="NIC model e1000 is not offered here"):
        await driver.start(request)
    assert await driver.list_instances() == []


async def test_qemu_driver_capabilities_from_the_real_binary(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path, Accelerator.TCG)
    got = await capabilities_of(driver)
    facts = got.facts
    assert got.abilities == ALL_ABILITIES
    assert facts.hypervisor == "qemu"
    assert re.fullmatch(r"\d+(\.\d+)+", facts.version), facts.version
    assert (facts.accelerator, facts.cpu_model) == ("tcg", "max")
    assert facts.host_cpu == host_cpu_model(CPUINFO)
    assert facts.machine_types == {"pc"}
    assert facts.nic_models == set(NIC_DEVICES) == {"virtio", "e1000"}
    assert facts.network_kinds == {"user"}
    assert facts.disk_kinds == {"overlay", "image", "blank", "scratch", "seed"}
    assert await driver.facts() is facts  # measured once


async def test_qemu_cpu_model_under_kvm_and_a_missing_binary(tmp_path: Path) -> None:
    facts = await QemuDriver(tmp_path, Accelerator.KVM, "/nonexistent/qemu").facts()
    assert (facts.accelerator, facts.cpu_model, facts.version) == ("kvm", "host", "")
    assert facts.nic_models == {"virtio", "e1000"}  # the rest is still reported


def test_qemu_version_and_host_cpu_parsing() -> None:
    assert parse_version("QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)\n"
                         "Copyright (c) 2003-2023 Fabrice Bellard") == "8.2.2"
    assert parse_version("no version here") == ""
    cpuinfo = "processor\t: 0\nmodel name\t: AMD  EPYC 7B13 64-Core\nflags\t: fpu\n"
    assert host_cpu_model(cpuinfo) == "AMD EPYC 7B13 64-Core"
    assert host_cpu_model("processor : 0\n") == ""


class _Pauser:
    """Not a driver: only what Pausable asks, to see it recognised."""

    async def pause(self, instance_id: int) -> None:
        return None

    async def unpause(self, instance_id: int) -> None:
        return None


def test_abilities_come_from_the_protocols_implemented() -> None:
    assert isinstance(_Pauser(), Pausable)
    assert not isinstance(_Pauser(), Rebootable)
    assert abilities_of(FakeDriver()) == FAKE_ABILITIES


# --- the network and storage families --------------------------------------------------------
def test_composition_serves_the_kinds_it_holds() -> None:
    composition = compose()
    assert composition.network_kinds == {"user"}
    assert composition.disk_kinds == {"overlay", "image", "blank", "scratch", "seed"}
    disk = DiskPlan(Path("/images/base.raw"), ImageFormat.RAW, persistent=False)
    target = composition.disk_target(7, disk, Path("/run/7/disk0.qcow2"))
    assert (target.path, target.format) == (Path("/run/7/disk0.qcow2"), ImageFormat.QCOW2)
    kept = DiskPlan(Path("/images/data.raw"), ImageFormat.RAW, persistent=True)
    assert composition.disk_target(7, kept, Path("/unused")).path == Path("/images/data.raw")


def test_a_host_without_a_kind_refuses_it_naming_what_it_has() -> None:
    only_user = Composition({"user": UserNic()}, {})
    request = VmRequest(7, "web", 1, 128,
                        (DiskPlan(Path("/images/a.qcow2"), ImageFormat.QCOW2, False),), ())
    with pytest.raises(DriverError, match=r"disk kind 'overlay' is not supported on this "
                                          r"host \(supported: none\)"):
        build_argv(request, RuntimeLayout(Path("/run/7")), Accelerator.TCG,
                   composition=only_user)
    assert DiskKind.OVERLAY not in only_user.disk_kinds


# --- the rule: what a host offers, what no host offers ---------------------------------------
def test_needs_unmet_by_facts() -> None:
    facts = caps("virtio").facts
    assert needs("virtio", kinds=("user",)).unmet_by(facts) == ()
    assert needs("e1000", kinds=("bridged",)).unmet_by(facts) == (
        "NIC model e1000", "network kind bridged")


def test_never_met_on_a_fresh_cluster_takes_what_the_drivers_know() -> None:
    assert never_met(needs("virtio", kinds=("user",)), []) is None
    assert never_met(needs("e1000"), [None, None]) is None  # hosts that never reported
    why = never_met(needs("rtl8139"), [])
    assert why == ("no host offers NIC model rtl8139 (the hosts offer NIC models e1000, "
                   "virtio and network kinds user)")
    assert BUILTIN.nic_models == set(NIC_DEVICES)


def test_never_met_against_the_reported_hosts() -> None:
    hosts = [caps("virtio"), caps("e1000", kinds=("bridged",))]
    assert never_met(needs("e1000"), hosts) is None
    assert never_met(needs("virtio", kinds=("user",)), hosts) is None
    assert never_met(needs("rtl8139"), hosts) == (
        "no host offers NIC model rtl8139 (the hosts offer NIC models e1000, virtio and "
        "network kinds bridged, user)")
    assert never_met(needs("virtio", kinds=("bridged",)), hosts) == (
        "no one host offers all of NIC model virtio, network kind bridged (the hosts offer "
        "NIC models e1000, virtio and network kinds bridged, user)")
    assert never_met(needs("e1000"), [caps("virtio"), None]) is None  # None: built-in


# --- the scheduler's filter -------------------------------------------------------------------
def snapshot(name: str, capabilities: HostCapabilities | None) -> HostSnapshot:
    return HostSnapshot(name, True, HostState.NORMAL, Resources(8, 8192),
                        capabilities=capabilities)


def request(n: Needs) -> PlacementRequest:
    return PlacementRequest(1, "vm1", Resources(1, 512), needs=n)


def test_capability_filter_keeps_the_hosts_that_offer_the_needs() -> None:
    f = CapabilityFilter()
    facts = ClusterFacts()
    e1000 = request(needs("e1000", kinds=("user",)))
    assert f.passes(snapshot("a", caps("virtio", "e1000")), e1000, facts)
    assert not f.passes(snapshot("b", caps("virtio")), e1000, facts)
    assert f.passes(snapshot("old", None), e1000, facts)  # never reported: built-in
    assert f.passes(snapshot("b", caps("virtio")), request(Needs()), facts)
    removed = [snapshot("b", caps("virtio")), snapshot("c", caps("virtio")),
               snapshot("d", caps("e1000", kinds=()))]
    assert f.explain(removed, e1000) == [(2, "2 lack NIC model e1000"),
                                         (1, "1 lack network kind user")]


def test_capability_filter_in_the_explanation() -> None:
    from tashi.scheduler.filters import DEFAULT_FILTERS

    hosts = [snapshot("a", caps("virtio")), snapshot("b", caps("virtio"))]
    wanted = request(needs("e1000"))
    run = run_filters(DEFAULT_FILTERS, hosts, wanted, ClusterFacts())
    assert run.counts() == "capabilities -2"
    assert explain(run, wanted) == "no host fits: 2 lack NIC model e1000"


# --- documents ---------------------------------------------------------------------------------
def test_documents_round_trip_and_tolerate_newer_abilities() -> None:
    full = HostCapabilities(
        HypervisorFacts("qemu", "7.2.22", "kvm", "host", "AMD EPYC", frozenset({"pc"}),
                        frozenset({"virtio", "e1000"}), frozenset({"user"}),
                        frozenset({"overlay", "image"}), frozenset({"qcow2", "raw"})),
        frozenset({Ability.CONSOLE, Ability.PAUSE}))
    doc = capabilities_doc(full)
    assert doc is not None
    assert doc["nic_models"] == ["e1000", "virtio"]
    assert capabilities_from_doc(doc) == full
    assert capabilities_from_doc({**doc, "abilities": ["console", "teleport"]}) == (
        HostCapabilities(full.facts, frozenset({Ability.CONSOLE})))
    assert capabilities_from_doc({"hypervisor": "xen"}) == HostCapabilities(
        HypervisorFacts("xen"))  # an older document: defaults
    assert capabilities_doc(None) is None
    assert capabilities_from_doc(None) is None
    wire = CapabilitiesWire.of(full)
    assert wire.abilities == ["console", "pause"]
    assert wire.domain() == full
    newer = CapabilitiesWire.model_validate({**wire.model_dump(), "abilities": ["teleport"]})
    assert newer.domain().abilities == frozenset()
