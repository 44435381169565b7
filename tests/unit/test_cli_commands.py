"""The ``tashi`` CLI against a real manager app served by uvicorn in a background thread."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner, Result

from tashi import __version__
from tashi.api.app import create_app
from tashi.cli import wait
from tashi.cmd.cli import main
from tashi.common.clock import SystemClock
from tashi.common.secrets import hash_token
from tashi.domain.capabilities import Ability, HostCapabilities, HypervisorFacts
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.store.sql import open_store


@dataclass(frozen=True)
class Manager:
    url: str
    token: str
    core: ManagerCore


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Manager]:
    for var in ("TASHI_URL", "TASHI_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    token = ensure_admin(store)
    assert token is not None
    ensure_default_network(store)
    core = ManagerCore.build(store, SystemClock(), image_dir=tmp_path / "images",
                             heartbeat_timeout_s=30, join_token=None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(core), log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Manager(f"http://127.0.0.1:{sock.getsockname()[1]}", token, core)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


def tashi(m: Manager, *args: str, token: str | None = None, input: str | None = None) -> Result:
    flags = ["--url", m.url, "--token", token or m.token]
    return CliRunner().invoke(main, [*flags, *args], input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def fails(result: Result, exit_code: int) -> str:
    """The one line on stderr of a command that failed as expected (never a traceback)."""
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tashi: ")
    return lines[0]


@pytest.fixture
def image(manager: Manager, tmp_path: Path) -> str:
    path = tmp_path / "x.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "10M"], check=True)
    ok(tashi(manager, "image", "import", "guest", str(path)))
    return "guest"


def test_image_import_then_list(manager: Manager, image: str) -> None:
    out = ok(tashi(manager, "image", "list"))
    header, row = out.splitlines()
    assert header.split() == ["NAME", "FORMAT", "SIZE", "VIRTUAL-SIZE", "OWNER", "VISIBILITY",
                              "MIN-MEMORY", "AGE"]
    assert row.split()[:2] == ["admin/guest", "qcow2"]
    assert row.split()[6:9] == ["admin", "private", "-"]
    assert "10 MiB" in row
    listed = json.loads(ok(tashi(manager, "--json", "image", "list")))
    assert [(i["name"], i["virtual_size_bytes"]) for i in listed] == [
        ("admin/guest", 10 * 2**20)]


def test_vm_create_list_show_destroy(manager: Manager, image: str) -> None:
    out = ok(tashi(manager, "vm", "create", "web-1", "--image", image, "--cores", "2",
                   "--memory", "256"))
    assert out.splitlines()[1].split()[:3] == ["1", "web-1", "Pending"]
    listing = ok(tashi(manager, "vm", "list")).splitlines()
    assert listing[0].split() == ["ID", "NAME", "OWNER", "STATE", "HOST", "CORES", "MEMORY",
                                  "AGE", "MESSAGE"]
    assert listing[1].split()[:7] == ["1", "web-1", "admin", "Pending", "-", "2", "256"]
    shown = ok(tashi(manager, "vm", "show", "web-1"))
    assert "state:" in shown
    assert "disks:" in shown
    assert "guest" in shown
    assert "created by admin" in shown
    assert "Destroyed" not in shown
    assert ok(tashi(manager, "vm", "destroy", "1", "--wait")) == "instance 1 (web-1): destroyed\n"
    assert ok(tashi(manager, "vm", "list")).splitlines()[1:] == []


def test_json_output_parses(manager: Manager, image: str) -> None:
    created = json.loads(ok(tashi(manager, "--json", "vm", "create", "a", "--image", image,
                                  "--network", "default")))
    assert (created["name"], created["state"], created["nics"][0]["network"]) == (
        "a", "Pending", "default")
    shown = json.loads(ok(tashi(manager, "--json", "vm", "show", "a")))
    assert shown["id"] == created["id"]
    assert shown["events"][0]["message"].startswith("created by admin")
    assert [i["name"] for i in json.loads(ok(tashi(manager, "--json", "vm", "list")))] == ["a"]
    destroyed = json.loads(ok(tashi(manager, "--json", "vm", "destroy", "a")))
    assert destroyed["deleted"] is True


def test_console_prints_the_stored_tail(manager: Manager, image: str) -> None:
    created = json.loads(ok(tashi(manager, "--json", "vm", "create", "c", "--image", image)))
    manager.core.store.put_console(created["id"], "login: ")
    assert ok(tashi(manager, "vm", "console", "c")) == "login: \n"
    assert json.loads(ok(tashi(manager, "--json", "vm", "console", "c"))) == {
        "console": "login: "}


@pytest.mark.parametrize(("args", "exit_code", "says"), [
    (["vm", "create", "x", "--image", "nope"], 2, "unknown image 'nope'"),
    (["vm", "create", "x", "--image", "guest", "--cores", "0"], 2, "cores"),
    (["vm", "create", "a/b", "--image", "guest"], 2, "invalid instance name"),
    (["vm", "create", "a;b", "--image", "guest"], 2, "invalid instance name"),
    (["vm", "create", "x" * 80, "--image", "guest"], 2, "name"),
    (["vm", "show", "nosuch"], 4, "instance nosuch not found"),
    (["vm", "show", "a/b"], 2, "invalid instance name"),
    (["vm", "destroy", "99"], 4, "not found"),
    (["vm", "shutdown", "99"], 4, "not found"),
    (["image", "import", "../etc/passwd", "/etc/hostname"], 2, "invalid image name"),
    (["vm", "create", "x", "--image", "guest", "--memory", "0"], 2, "memory"),
    (["vm", "create", "x", "--image", "guest", "--memory", str(10**9)], 2, "memory"),
    (["vm", "create", "x", "--image", "guest", "--cores", str(10**6)], 2, "cores"),
    (["vm", "create", "x", "--image", "../guest"], 2, "invalid image name"),
    (["vm", "create", "x", "--image", "guest", "--host", "ghost"], 2, "unknown host 'ghost'"),
    (["vm", "create", "$(reboot)", "--image", "guest"], 2, "invalid instance name"),
])
def test_bad_input_is_one_line(manager: Manager, image: str, args: list[str], exit_code: int,
                               says: str) -> None:
    assert says in fails(tashi(manager, *args), exit_code)
    assert manager.core.store.list_instances() == []  # nothing created half-way
    assert [i.name for i in manager.core.store.list_images()] == [f"admin/{image}"]


def test_duplicate_name_is_a_conflict(manager: Manager, image: str) -> None:
    ok(tashi(manager, "vm", "create", "dup", "--image", image))
    assert "dup" in fails(tashi(manager, "vm", "create", "dup", "--image", image), 5)
    assert [i.name for i in manager.core.store.list_instances()] == ["dup"]


def test_shutdown_of_pending_is_a_conflict(manager: Manager, image: str) -> None:
    ok(tashi(manager, "vm", "create", "p", "--image", image))
    assert "Pending" in fails(tashi(manager, "vm", "shutdown", "p"), 5)


def test_missing_image_file_fails_before_any_call(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--url", "http://127.0.0.1:9", "--token", "t", "image",
                                       "import", "img", str(tmp_path / "missing.qcow2")])
    assert "cannot read" in fails(result, 2)


def test_bad_token(manager: Manager) -> None:
    assert "invalid bearer token" in fails(tashi(manager, "vm", "list", token="wrong"), 3)


def test_unreachable_manager() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(main, ["--url", f"http://127.0.0.1:{port}", "--token", "t",
                                       "vm", "list"])
    assert "cannot reach the manager" in fails(result, 6)


def test_usage_errors_keep_clicks_exit_code(manager: Manager) -> None:
    result = tashi(manager, "vm", "create", "x")
    assert result.exit_code == 2
    assert "--image" in result.stderr


def test_wait_reports_held_with_its_message(manager: Manager, image: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wait, "POLL_S", 0.05)
    core = manager.core

    def hold() -> None:
        for _ in range(200):
            found = core.store.list_instances(name="w")
            if found:
                held = core.store.set_instance_status(found[0].id, replace(
                    found[0].status, held=True, message="no host has room"))
                core.instances.changed(found[0], held, "no host has room")
                return
            time.sleep(0.02)

    holder = threading.Thread(target=hold)
    holder.start()
    result = tashi(manager, "vm", "create", "w", "--image", image, "--wait")
    holder.join()
    assert fails(result, 1) == "tashi: instance w is Held: no host has room"


def test_wait_times_out(manager: Manager, image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wait, "POLL_S", 0.05)
    result = tashi(manager, "vm", "create", "t", "--image", image, "--wait", "--timeout", "0.2")
    assert "still Pending after 0.2 s" in fails(result, 1)


def test_login_saves_the_config_used_later(manager: Manager, tmp_path: Path) -> None:
    runner = CliRunner()
    out = ok(runner.invoke(main, ["login", "--url", manager.url], input=manager.token + "\n"))
    assert out.endswith(f"logged in to {manager.url} as admin (admin)\n")
    assert manager.token not in out
    path = tmp_path / "config" / "tashi" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ok(runner.invoke(main, ["user", "list"])).splitlines()[1].split()[:2] == [
        "admin", "admin"]


def test_login_refuses_a_bad_token_and_saves_nothing(manager: Manager, tmp_path: Path) -> None:
    fails(CliRunner().invoke(main, ["login", "--url", manager.url, "--token", "bad"]), 3)
    assert not (tmp_path / "config" / "tashi" / "config.toml").exists()


def test_host_add_prints_the_credential(manager: Manager) -> None:
    out = ok(tashi(manager, "host", "add", "node1"))
    token = json.loads(ok(tashi(manager, "--json", "host", "add", "node2")))["token"]
    assert token
    assert "agent credential (shown once): " in out
    assert f"tashi-agent --host node1 --manager-url {manager.url}" in out
    rows = ok(tashi(manager, "host", "list")).splitlines()
    assert rows[0].split() == ["NAME", "STATE", "UP", "CORES", "MEMORY", "INSTANCES",
                               "HYPERVISOR", "RESERVED-FOR", "LAST-HEARTBEAT"]
    assert [r.split()[0] for r in rows[1:]] == ["node1", "node2"]
    new = json.loads(ok(tashi(manager, "--json", "host", "credential", "node2")))["token"]
    assert new != token
    valid = [manager.core.store.principal_for_token(hash_token(t), SystemClock().now())
             is not None for t in (token, new)]
    assert valid == [False, True]  # the old credential is revoked, the new one works
    assert "agent credential (shown once): " in ok(tashi(manager, "host", "credential",
                                                         "node1"))
    assert "host 'ghost' not found" in fails(tashi(manager, "host", "credential", "ghost"), 4)


def test_non_admin_cannot_list_hosts(manager: Manager) -> None:
    out = json.loads(ok(tashi(manager, "--json", "user", "add", "alice")))
    assert out["user"] == {"name": "alice", "role": "user", "source": "local",
                           "created_at": out["user"]["created_at"]}
    assert "not an admin" in fails(tashi(manager, "host", "list", token=out["token"]), 3)
    assert ok(tashi(manager, "vm", "list", token=out["token"])).splitlines()[1:] == []
    fails(tashi(manager, "user", "add", "bob", token=out["token"]), 3)


def test_console_follow_prints_the_stream_without_escapes(
        manager: Manager, image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tashi.client import TashiClient

    ok(tashi(manager, "vm", "create", "f", "--image", image))

    async def follow(self: TashiClient, ref: str | int) -> AsyncIterator[str]:
        assert ref == "f"
        for chunk in ("boot\n", "login: \x1b[31mroot\x1b[0m\n", "\x1b[2J"):
            yield chunk

    monkeypatch.setattr(TashiClient, "follow_console", follow)
    assert ok(tashi(manager, "vm", "console", "f", "--follow")) == "boot\nlogin: root\n"
    raw = ok(tashi(manager, "vm", "console", "f", "--follow", "--raw"))
    assert raw == "boot\nlogin: \x1b[31mroot\x1b[0m\n\x1b[2J"


def test_networks_list_and_add(manager: Manager) -> None:
    rows = ok(tashi(manager, "network", "list")).splitlines()
    assert rows[0].split() == ["NAME", "KIND", "AGE"]
    assert [r.split()[:2] for r in rows[1:]] == [["default", "user"]]
    added = json.loads(ok(tashi(manager, "--json", "network", "add", "lab")))
    assert (added["name"], added["kind"]) == ("lab", "user")
    assert [n["name"] for n in json.loads(ok(tashi(manager, "--json", "network", "list")))] \
        == ["default", "lab"]
    assert "already exists" in fails(tashi(manager, "network", "add", "lab"), 5)
    assert "invalid network name" in fails(tashi(manager, "network", "add", "a;b"), 2)
    alice = json.loads(ok(tashi(manager, "--json", "user", "add", "alice")))["token"]
    assert "lab" in ok(tashi(manager, "network", "list", token=alice))  # users see them
    assert "not an admin" in fails(tashi(manager, "network", "add", "x", token=alice), 3)
    assert "not an admin" in fails(tashi(manager, "network", "remove", "lab", token=alice), 3)
    assert ok(tashi(manager, "network", "remove", "lab")) == "network lab: removed\n"
    assert "network 'lab' not found" in fails(tashi(manager, "network", "remove", "lab"), 4)
    assert "is the default" in fails(tashi(manager, "network", "remove", "default"), 5)


def test_events_lists_filters_and_prints_json(manager: Manager, image: str) -> None:
    ok(tashi(manager, "vm", "create", "ev", "--image", image))
    out = ok(tashi(manager, "events", "--instance", "ev"))
    assert "instance.created" in out
    assert "user admin" in out
    rows = json.loads(ok(tashi(manager, "events", "--kind", "instance.created", "--json")))
    assert [r["kind"] for r in rows] == ["instance.created"]
    assert rows[0]["user"] == "admin"
    assert json.loads(ok(tashi(manager, "events", "--kind", "host.silent", "--json"))) == []
    assert "not found" in fails(tashi(manager, "events", "--instance", "nope"), 4)
    assert tashi(manager, "events", "--kind", "bogus").exit_code == 2


def _qemu_caps(*nic_models: str) -> HostCapabilities:
    return HostCapabilities(
        HypervisorFacts("qemu", "7.2.22", "tcg", "max", "AMD EPYC", frozenset({"pc"}),
                        frozenset(nic_models), frozenset({"user"}),
                        frozenset({"overlay", "image"}), frozenset({"qcow2", "raw"})),
        frozenset({Ability.CONSOLE}))


def test_host_show_displays_what_its_drivers_can_do(manager: Manager) -> None:
    ok(tashi(manager, "host", "add", "node1"))
    ok(tashi(manager, "host", "add", "node2"))
    manager.core.hosts.heartbeat("node1", cores=8, memory_mib=8192, version=__version__,
                                 hypervisor="qemu-tcg", capabilities=_qemu_caps("virtio", "e1000"))
    shown = dict(line.split(": ", 1) for line in
                 ok(tashi(manager, "host", "show", "node1")).splitlines())
    assert {k: v.strip() for k, v in shown.items()} == {
        "name": "node1", "state": "Normal", "up": "yes (last heartbeat 0s ago)",
        "cores": "0/8 used", "memory": "0 MiB/8.0 GiB used", "disk": "0/0 GiB used",
        "instances": "0", "reserved for": "anyone", "agent": __version__,
        "hypervisor": "qemu 7.2.22 (qemu-tcg)", "accelerator": "tcg",
        "cpu model": "max (host CPU: AMD EPYC)", "machine types": "pc",
        "nic models": "e1000, virtio", "network kinds": "user",
        "disk kinds": "image, overlay", "disk formats": "qcow2, raw",
        "abilities": "console yes, pause no, suspend no, live migration no, vnc no",
    }
    as_json = json.loads(ok(tashi(manager, "--json", "host", "show", "node1")))
    assert as_json["capabilities"]["nic_models"] == ["e1000", "virtio"]
    assert as_json["silent"] is False
    assert ("capabilities: not reported (the agent is older, or never heartbeated)"
            in ok(tashi(manager, "host", "show", "node2")))
    assert "host ghost not found" in fails(tashi(manager, "host", "show", "ghost"), 4)


def test_a_nic_model_no_host_offers_is_refused(manager: Manager, image: str) -> None:
    # a fresh cluster (no host reported): what Tashi's drivers know
    made = json.loads(ok(tashi(manager, "--json", "vm", "create", "e", "--image", image,
                               "--nic-model", "e1000")))
    assert [n["model"] for n in made["nics"]] == ["e1000"]
    assert ("no host offers NIC model rtl8139 (the hosts offer NIC models e1000, virtio"
            in fails(tashi(manager, "vm", "create", "r", "--image", image,
                           "--nic-model", "rtl8139"), 2))
    ok(tashi(manager, "host", "add", "node1"))
    manager.core.hosts.heartbeat("node1", cores=8, memory_mib=8192, version=__version__,
                                 capabilities=_qemu_caps("virtio"))
    line = fails(tashi(manager, "vm", "create", "f", "--image", image, "--nic-model", "e1000"),
                 2)
    assert line == ("tashi: no host could ever run it: no host offers NIC model e1000 (the "
                    "hosts offer NIC models virtio and network kinds user)")
    ok(tashi(manager, "vm", "create", "v", "--image", image))  # virtio, the default
