"""Accelerator choice: KVM only with a usable /dev/kvm and vmx/svm flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tashi.agent.drivers.qemu.accel import (
    Accelerator,
    choose_accelerator,
    cpu_has_virtualization,
    kvm_device_usable,
)
from tashi.domain.errors import InvalidInput

INTEL = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx ept sse2\n\n"
AMD = "processor\t: 0\nflags\t\t: fpu vme svm npt sse2\n"
STUB = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor sse2\n"


@pytest.mark.parametrize(("cpuinfo", "expected"), [(INTEL, True), (AMD, True), (STUB, False),
                                                   ("", False)])
def test_cpu_flags(cpuinfo: str, expected: bool) -> None:
    assert cpu_has_virtualization(cpuinfo) is expected


def test_flag_names_are_matched_whole() -> None:
    assert not cpu_has_virtualization("flags\t: vmxx svm_lock notvmx\n")
    assert not cpu_has_virtualization("model name\t: vmx svm\n")


@pytest.mark.parametrize("cpuinfo", [INTEL, AMD])
def test_auto_picks_kvm_when_usable_and_flagged(cpuinfo: str) -> None:
    assert choose_accelerator("auto", cpuinfo, kvm_usable=True) is Accelerator.KVM


def test_auto_picks_tcg_on_a_paravirtual_stub() -> None:
    """/dev/kvm opens, but the CPU has no vmx/svm: this machine."""
    assert choose_accelerator("auto", STUB, kvm_usable=True) is Accelerator.TCG


def test_auto_picks_tcg_without_a_usable_device() -> None:
    assert choose_accelerator("auto", INTEL, kvm_usable=False) is Accelerator.TCG


@pytest.mark.parametrize(("cpuinfo", "usable"), [(INTEL, True), (STUB, False)])
def test_explicit_choices_are_honoured(cpuinfo: str, usable: bool) -> None:
    assert choose_accelerator("tcg", cpuinfo, kvm_usable=usable) is Accelerator.TCG
    assert choose_accelerator("kvm", cpuinfo, kvm_usable=usable) is Accelerator.KVM


def test_explicit_kvm_on_an_unusable_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    choose_accelerator("kvm", STUB, kvm_usable=True)
    assert any(r.levelname == "WARNING" for r in caplog.records)


def test_choice_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    choose_accelerator("auto", STUB, kvm_usable=True)
    assert "accelerator tcg" in caplog.text


def test_unknown_choice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="xen"):
        choose_accelerator("xen", INTEL, kvm_usable=True)


def test_accelerator_values_are_qemu_names() -> None:
    assert [str(a) for a in Accelerator] == ["kvm", "tcg"]


def test_missing_device_is_not_usable() -> None:
    assert kvm_device_usable(Path("/nonexistent/kvm")) is False
