"""``tashi vm list`` and ``tashi host list`` against a real manager: their filters,
``--limit``, paging through everything without it, ``--json``, and refusals on one line."""

from __future__ import annotations

import json

from tashi.client.paging import PAGE_SIZE
from tashi.domain.models import ImageFormat, NewInstance
from tashi.domain.states import HostState
from tashi.store.base import NewImage
from tests.integration.test_quota_cli import add_alice, rows
from tests.integration.test_store_contract import spec
from tests.unit import test_cli_commands as cli

manager = cli.manager  # the fixture: a manager served in a thread, for the CLI to call
Manager = cli.Manager


def made(m: Manager, owner: str, *names: str) -> list[int]:
    """Instances ``names`` of ``owner`` (Pending), made in the store: their ids."""
    store = m.core.store
    for disk in spec().disks:
        if disk.image not in {i.name for i in store.list_images()}:
            store.create_image(NewImage(disk.image, "admin", ImageFormat.RAW, 1, 1))
    news = [NewInstance(n, owner, spec()) for n in names]
    return [i.id for i in store.create_instances(news)]


def listed(out: str) -> list[str]:
    """The NAME column of a ``vm list`` table."""
    return [row[1] for row in rows(out)[1:]]


def test_filters_and_limit(manager: Manager) -> None:
    add_alice(manager)
    made(manager, "alice", "web-1", "web-2", "db-1")
    made(manager, "admin", "web-3")
    out = cli.ok(cli.tashi(manager, "vm", "list", "--user", "alice", "--name", "web",
                           "--state", "Pending"))
    assert rows(out)[0][:4] == ["ID", "NAME", "OWNER", "STATE"]
    assert listed(out) == ["web-1", "web-2"]
    assert listed(cli.ok(cli.tashi(manager, "vm", "list", "--limit", "2"))) == [
        "web-1", "web-2"]
    assert listed(cli.ok(cli.tashi(manager, "vm", "list", "--state", "Held,Pending",
                                   "--state", "Running", "--network", "default",
                                   "--name", "web-3"))) == ["web-3"]
    assert listed(cli.ok(cli.tashi(manager, "vm", "list", "--host", "h1"))) == []
    shown = json.loads(cli.ok(cli.tashi(manager, "--json", "vm", "list", "--limit", "1",
                                        "--name", "db")))
    assert [(i["name"], i["owner"]) for i in shown] == [("db-1", "alice")]


def test_without_limit_every_page_is_fetched(manager: Manager) -> None:
    names = [f"vm-{n}" for n in range(PAGE_SIZE + 5)]
    made(manager, "admin", *names)
    assert listed(cli.ok(cli.tashi(manager, "vm", "list"))) == names
    shown = json.loads(cli.ok(cli.tashi(manager, "--json", "vm", "list", "--name", "vm-1")))
    assert [i["name"] for i in shown] == [n for n in names if n.startswith("vm-1")]


def test_a_user_sees_only_their_own(manager: Manager) -> None:
    token = add_alice(manager)
    made(manager, "alice", "mine")
    made(manager, "admin", "theirs")
    assert listed(cli.ok(cli.tashi(manager, "vm", "list", token=token))) == ["mine"]
    line = cli.fails(cli.tashi(manager, "vm", "list", "--user", "admin", token=token), 3)
    assert line == "tashi: user alice may list only its own instances, not admin's"


def test_bad_flags_fail_on_one_line(manager: Manager) -> None:
    line = cli.fails(cli.tashi(manager, "vm", "list", "--state", "Bogus"), 2)
    assert line.startswith("tashi: state: instance state 'Bogus' is unknown; one of Pending")
    line = cli.fails(cli.tashi(manager, "vm", "list", "--limit", "0"), 2)
    assert line == "tashi: limit: Input should be greater than or equal to 1"
    line = cli.fails(cli.tashi(manager, "host", "list", "--state", "Up"), 2)
    assert line.startswith("tashi: state: host state 'Up' is unknown; one of Normal")


def test_host_list_by_state_and_limit(manager: Manager) -> None:
    for name in ("h2", "h1", "h3"):
        manager.core.store.create_host(name)
    manager.core.store.set_host_state("h3", HostState.DRAINED)
    assert [r[0] for r in rows(cli.ok(cli.tashi(manager, "host", "list")))[1:]] == [
        "h1", "h2", "h3"]
    assert [r[0] for r in rows(cli.ok(cli.tashi(manager, "host", "list", "--limit", "2")))[
        1:]] == ["h1", "h2"]
    drained = json.loads(cli.ok(cli.tashi(manager, "--json", "host", "list", "--state",
                                          "Drained")))
    assert [h["name"] for h in drained] == ["h3"]
