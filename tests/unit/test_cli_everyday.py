"""Everyday commands against a real manager: ``--json`` after the command (errors JSON
too), ``whoami``, ``version``, ``network show``, ``slots`` for users, and ``login``
saying whose login it replaces."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from tashi import __version__
from tashi.cmd.cli import main
from tashi.domain.events import EventKind
from tests.unit.test_cli_commands import Manager, fails, image, manager, ok, tashi

__all__ = ["image", "manager"]  # fixtures


def add_user(m: Manager, name: str) -> str:
    """Create user ``name``; their API token."""
    return str(json.loads(ok(tashi(m, "--json", "user", "add", name)))["token"])


def json_error(result: Result, exit_code: int) -> dict[str, object]:
    """The one JSON object on stderr of a command that failed as expected."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    error = json.loads(line)
    assert isinstance(error, dict)
    return error


def test_json_after_the_command(manager: Manager, image: str) -> None:
    ok(tashi(manager, "vm", "create", "web", "--image", image))
    after = json.loads(ok(tashi(manager, "vm", "list", "--json")))
    before = json.loads(ok(tashi(manager, "--json", "vm", "list")))
    assert [i["name"] for i in after] == [i["name"] for i in before] == ["web"]
    shown = json.loads(ok(tashi(manager, "vm", "show", "web", "--json")))
    assert shown["name"] == "web"
    assert json.loads(ok(tashi(manager, "image", "list", "--json")))[0]["name"].endswith(image)


def test_errors_are_json_under_json(manager: Manager) -> None:
    for args in (["vm", "show", "nope", "--json"], ["--json", "vm", "show", "nope"]):
        assert json_error(tashi(manager, *args), 4) == {
            "error": "not_found", "message": "instance nope not found", "exit_code": 4}
    unauthenticated = json_error(tashi(manager, "vm", "list", "--json", token="bad"), 3)
    assert unauthenticated["error"] == "unauthenticated"
    usage = json_error(tashi(manager, "vm", "create", "x", "--json"), 2)
    assert usage["error"] == "usage"
    assert "--image" in str(usage["message"])
    # without --json: the one readable line, as ever
    assert fails(tashi(manager, "vm", "show", "nope"), 4) == "tashi: instance nope not found"


def test_whoami(manager: Manager) -> None:
    assert ok(tashi(manager, "whoami")) == f"admin (admin) on {manager.url}\n"
    alice = add_user(manager, "alice")
    assert ok(tashi(manager, "whoami", token=alice)) == f"alice (user) on {manager.url}\n"
    me = json.loads(ok(tashi(manager, "whoami", "--json", token=alice)))
    assert me == {"url": manager.url, "kind": "user", "name": "alice", "role": "user"}
    assert fails(tashi(manager, "whoami", token="bad"), 3).startswith("tashi: ")


def test_version_names_both(manager: Manager) -> None:
    assert ok(tashi(manager, "version")) == (
        f"tashi {__version__}\nmanager {__version__} on {manager.url}\n")
    assert json.loads(ok(tashi(manager, "version", "--json"))) == {
        "tashi": __version__, "manager": __version__, "url": manager.url}
    gone = CliRunner().invoke(main, ["--url", "http://127.0.0.1:1", "version"])
    assert gone.exit_code == 6
    assert gone.stdout == f"tashi {__version__}\n"  # what it knows, then why not the rest
    assert gone.stderr.startswith("tashi: cannot reach the manager at http://127.0.0.1:1")


def test_network_show(manager: Manager, image: str, tmp_path: Path) -> None:
    alice = add_user(manager, "alice")
    ok(tashi(manager, "image", "import", "alices", str(tmp_path / "x.qcow2"), token=alice))
    ok(tashi(manager, "vm", "create", "admins-vm", "--image", image))
    ok(tashi(manager, "vm", "create", "alices-vm", "--image", "alices", token=alice))
    shown = ok(tashi(manager, "network", "show", "default")).splitlines()
    assert shown[:2] == ["name:      default", "kind:      user"]
    assert "instances: 2" in shown
    assert [line.split()[1] for line in shown[-2:]] == ["admins-vm", "alices-vm"]
    as_alice = json.loads(ok(tashi(manager, "network", "show", "default", "--json",
                                   token=alice)))
    assert [(i["name"], i["owner"]) for i in as_alice["instances"]] == [("alices-vm", "alice")]
    assert fails(tashi(manager, "network", "show", "nope"), 4) == (
        "tashi: network 'nope' not found")
    assert fails(tashi(manager, "network", "show", "../x"), 2).startswith("tashi: ")


def test_slots_for_users(manager: Manager) -> None:
    hosts = manager.core.hosts
    for name in ("h1", "h2"):
        hosts.register(name, "test")
        hosts.heartbeat(name, cores=4, memory_mib=4096, version=__version__)
    hosts.reserve("h2", ["bob"], "test")
    alice = add_user(manager, "alice")
    out = ok(tashi(manager, "slots", "--cores", "1", "--memory", "1024", token=alice))
    assert out.splitlines()[2:] == ["h1     4      cores", "total  4"]
    assert "bob" not in out  # whom a host is reserved for is not alice's business
    admin = json.loads(ok(tashi(manager, "slots", "--memory", "1024", "--json")))
    assert {h["name"]: h["slots"] for h in admin["hosts"]} == {"h1": 4, "h2": 0}
    assert "bob" in {h["name"]: h["why"] for h in admin["hosts"]}["h2"]


def test_login_says_whose_login_it_replaces(manager: Manager, tmp_path: Path) -> None:
    password = "alice's password"
    ok(tashi(manager, "user", "add", "alice", "--password-prompt",
             input=f"{password}\n{password}\n"))
    token_file = tmp_path / "admin.token"
    token_file.write_text(manager.token)
    runner = CliRunner()
    first = ok(runner.invoke(main, ["login", "--url", manager.url,
                                    "--token-file", str(token_file)]))
    assert first == f"logged in to {manager.url} as admin (admin)\n"  # nothing replaced
    config = tmp_path / "config" / "tashi" / "config.toml"
    assert 'user = "admin"' in config.read_text()
    second = ok(runner.invoke(main, ["login", "--url", manager.url, "--user", "alice"],
                              input=password + "\n"))
    assert second.endswith(f"logged in to {manager.url} as alice (user), "
                           "replacing the saved login of admin\n")
    # a file written before it named its user: the manager is asked whose token it is
    config.write_text(f'url = "{manager.url}"\ntoken = "{manager.token}"\n')
    third = ok(runner.invoke(main, ["login", "--url", manager.url, "--user", "alice"],
                             input=password + "\n"))
    assert third.endswith("replacing the saved login of admin\n")



def test_vm_destroy_force_is_for_admins(manager: Manager, image: str) -> None:
    """The flag reaches the manager (tests/integration/test_everyday.py: a silent host)."""
    alice = add_user(manager, "alice")
    ok(tashi(manager, "vm", "create", "pending", "--image", image))
    assert fails(tashi(manager, "vm", "destroy", "pending", "--force", token=alice), 3) == (
        "tashi: user alice is not an admin")  # asked before the instance is looked up
    assert ok(tashi(manager, "vm", "destroy", "pending", "--force")) == (
        "instance 1 (pending): destroyed\n")
    (event,) = manager.core.store.list_events(instance_id=1, kind=EventKind.INSTANCE_DELETED)
    assert "forced by user admin (it had no host)" in event.message
