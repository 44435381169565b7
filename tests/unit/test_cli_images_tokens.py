"""The CLI of issue 9 §2, §4, §10: ``tashi image import --public/--min-memory``, the
minimum checked at ``tashi vm create``, and ``tashi token settings``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tashi.common.secrets import hash_token, new_token
from tashi.domain.states import Role
from tests.unit.test_cli_commands import Manager, fails, manager, ok, tashi

__all__ = ["manager"]  # the fixture, used by name


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    path = tmp_path / "guest.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


@pytest.fixture
def alice(manager: Manager) -> str:
    manager.core.store.create_user("alice", Role.USER)
    token = new_token()
    manager.core.store.add_token(hash_token(token), "t", user="alice")
    return token


def test_an_image_minimum_memory_is_kept_shown_and_enforced(manager: Manager, disk: Path,
                                                            alice: str) -> None:
    ok(tashi(manager, "image", "import", "tashi-guest", str(disk), "--public",
             "--min-memory", "96"))
    shown = ok(tashi(manager, "image", "show", "tashi-guest", token=alice))
    assert "visibility:" in shown
    assert "public" in shown
    assert "96 MiB" in shown
    said = fails(tashi(manager, "vm", "create", "small", "--image", "tashi-guest",
                       "--memory", "64", token=alice), 2)
    assert "needs at least 96 MiB of memory to boot" in said
    assert manager.core.store.list_instances() == []
    made = json.loads(ok(tashi(manager, "--json", "vm", "create", "ok", "--image",
                               "tashi-guest", "--memory", "96", token=alice)))
    assert [d["image"] for d in made["disks"]] == ["admin/tashi-guest"]


def test_a_user_cannot_publish_an_image(manager: Manager, disk: Path, alice: str) -> None:
    said = fails(tashi(manager, "image", "import", "mine", str(disk), "--public",
                       token=alice), 3)
    assert "may not make images public" in said
    ok(tashi(manager, "image", "import", "mine", str(disk), token=alice))
    listed = json.loads(ok(tashi(manager, "--json", "image", "list", token=alice)))
    assert [(i["name"], i["visibility"]) for i in listed] == [("alice/mine", "private")]


def test_token_settings(manager: Manager, alice: str) -> None:
    assert "password logins and other tokens" in ok(tashi(manager, "token", "settings"))
    assert "not an admin" in fails(tashi(manager, "token", "settings",
                                         "--password-login-only", token=alice), 3)
    assert "password logins only" in ok(tashi(manager, "token", "settings",
                                              "--password-login-only"))
    assert "tashi login" in fails(tashi(manager, "token", "create", "laptop", token=alice), 3)
    ok(tashi(manager, "token", "settings", "--any-token"))
    assert "laptop" in ok(tashi(manager, "token", "create", "laptop", token=alice))


def test_image_delete(manager: Manager, disk: Path, alice: str) -> None:
    ok(tashi(manager, "image", "import", "mine", str(disk), token=alice))
    ok(tashi(manager, "vm", "create", "uses", "--image", "mine", token=alice))
    assert "is used by instance" in fails(tashi(manager, "image", "delete", "mine",
                                                token=alice), 5)
    ok(tashi(manager, "vm", "destroy", "uses", token=alice))
    assert ok(tashi(manager, "image", "delete", "mine", token=alice)) == \
        "image mine: deleted\n"
    assert "not found" in fails(tashi(manager, "image", "delete", "mine", token=alice), 4)
    assert json.loads(ok(tashi(manager, "--json", "image", "list", token=alice))) == []


def test_image_copy_into_ones_own(manager: Manager, disk: Path, alice: str) -> None:
    ok(tashi(manager, "image", "import", "base", str(disk), "--public", "--min-memory", "96"))
    made = json.loads(ok(tashi(manager, "--json", "image", "copy", "base", "mine",
                               token=alice)))
    assert (made["name"], made["owner"], made["visibility"], made["min_memory_mib"]) == (
        "alice/mine", "alice", "private", 96)
    copied = manager.core.images.path_of("alice/mine")
    assert copied.read_bytes() == disk.read_bytes()
    assert "already" in fails(tashi(manager, "image", "copy", "base", "mine", token=alice), 5)
    assert "not found" in fails(tashi(manager, "image", "copy", "admin/nope", "x",
                                      token=alice), 4)
