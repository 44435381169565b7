"""Real system accounts made with useradd/groupadd (as root) for the tests of system
users, removed after: a member of a fresh group, an account outside it, and one whose
name is valid for the system but not for Tashi."""

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


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.fail("these tests create system users: run them as root")
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
            subprocess.run([_sbin("userdel"), user], check=False, capture_output=True)
        subprocess.run([_sbin("groupdel"), acc.group], check=False, capture_output=True)
