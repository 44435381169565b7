"""``tashi quota`` against a real manager: set, show, list, remove, and the refusals."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tashi.domain.states import Role
from tests.unit import test_cli_commands as cli

manager = cli.manager  # the fixture: a manager served in a thread, for the CLI to call
Manager = cli.Manager


@pytest.fixture
def image(manager: Manager, tmp_path: Path) -> str:
    """A public image of the admin's, that alice may boot."""
    path = tmp_path / "x.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "10M"], check=True)
    cli.ok(cli.tashi(manager, "image", "import", "guest", str(path), "--public"))
    return "guest"


def add_alice(m: Manager) -> str:
    """Create user alice; her API token."""
    return str(json.loads(cli.ok(cli.tashi(m, "--json", "user", "add", "alice")))["token"])


def rows(out: str) -> list[list[str]]:
    """A table's cells (columns are two spaces or more apart)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()]


def test_set_show_list_remove(manager: Manager) -> None:
    add_alice(manager)
    out = cli.ok(cli.tashi(manager, "quota", "set", "alice", "--cores", "8", "--memory",
                           "4096", "--machines", "0"))
    assert out.splitlines()[0] == "quota of alice"
    assert [r[:1] + r[2:] for r in rows(out)[1:]] == [
        ["RESOURCE", "LIMIT"], ["instances", "no limit"], ["cores", "8"],
        ["memory (MiB)", "4096"], ["disk (GiB)", "no limit"], ["machines", "0"]]
    changed = json.loads(cli.ok(cli.tashi(manager, "--json", "quota", "set", "alice",
                                          "--unset", "cores", "--instances", "2")))
    assert changed["limits"] == {"instances": 2, "cores": None, "memory_mib": 4096,
                                 "disk_gib": None, "machines": 0}
    listed = cli.ok(cli.tashi(manager, "quota", "list")).splitlines()
    assert listed[0].split() == ["USER", "INSTANCES", "CORES", "MEMORY(MIB)", "DISK(GIB)",
                                 "MACHINES"]
    assert listed[1].split() == ["alice", "0/2", "0/-", "0/4096", "0/-", "0/0"]
    cli.ok(cli.tashi(manager, "quota", "remove", "alice"))
    assert cli.ok(cli.tashi(manager, "quota", "list")).splitlines()[1:] == []


def test_a_user_sees_their_own_with_the_use(manager: Manager, image: str) -> None:
    token = add_alice(manager)
    cli.ok(cli.tashi(manager, "quota", "set", "alice", "--cores", "3"))
    cli.ok(cli.tashi(manager, "vm", "create", "web", "--image", image, "--cores", "2",
                     token=token))
    shown = json.loads(cli.ok(cli.tashi(manager, "--json", "quota", "show", token=token)))
    assert (shown["user"], shown["use"]["cores"], shown["limits"]["cores"]) == ("alice", 2, 3)
    refused = cli.fails(cli.tashi(manager, "vm", "create", "db", "--image", image,
                                  "--cores", "2", token=token), 3)
    assert refused == "tashi: quota: alice may use 3 cores, uses 2, asks 2"
    assert cli.fails(cli.tashi(manager, "quota", "show", "admin", token=token), 3) == (
        "tashi: user alice may see only its own quota, not admin's")
    assert [i.name for i in manager.core.store.list_instances()] == ["web"]


def test_bad_input_is_one_line(manager: Manager) -> None:
    manager.core.store.create_user("alice", Role.USER)
    assert cli.fails(cli.tashi(manager, "quota", "set", "alice", "--cores", "-1"), 2) == (
        "tashi: cores: Input should be greater than or equal to 0")
    assert cli.fails(cli.tashi(manager, "quota", "set", "alice", "--disk", "1.5"), 2) == (
        "tashi: --disk: '1.5' is not a whole number")
    assert cli.fails(cli.tashi(manager, "quota", "set", "carol", "--cores", "1"), 4) == (
        "tashi: user 'carol' not found")
    assert "nothing to set" in cli.fails(cli.tashi(manager, "quota", "set", "alice"), 2)
    assert "both set and unset" in cli.fails(cli.tashi(
        manager, "quota", "set", "alice", "--cores", "1", "--unset", "cores"), 2)
    assert manager.core.store.list_quotas() == []
