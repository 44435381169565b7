"""Real system accounts made with useradd/groupadd (as root, or through sudo) for the
tests of system users, removed after: a member of a fresh group, an account outside it,
and one whose name is valid for the system but not for Tashi."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Accounts:
    member: str  # in `group`
    other: str  # not in `group`
    dotted: str  # a valid system name, but not a valid Tashi name
    group: str


def _sbin(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found is None:
        pytest.fail(f"{name} not found (package passwd)")
    return found


def _as_root() -> list[str]:
    """Nothing as root; ``sudo -n`` otherwise (what scripts/install.sh relies on too)."""
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode:
        pytest.fail("these tests create system users: run them as root or with "
                    "password-less sudo")
    return [sudo, "-n"]


def _run(*args: str, check: bool = True) -> None:
    subprocess.run([*_as_root(), *args], check=check, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    tag = secrets.token_hex(3)
    acc = Accounts(member=f"tashi-m-{tag}", other=f"tashi-o-{tag}", dotted=f"tashi.d-{tag}",
                   group=f"tashi-g-{tag}")
    made: list[str] = []
    _run(_sbin("groupadd"), acc.group)
    try:
        for user, extra in ((acc.member, ["-G", acc.group]), (acc.other, []), (acc.dotted, [])):
            _run(_sbin("useradd"), "-M", "-s", "/usr/sbin/nologin", *extra, user)
            made.append(user)
        yield acc
    finally:
        for user in made:
            _run(_sbin("userdel"), user, check=False)
        _run(_sbin("groupdel"), acc.group, check=False)
