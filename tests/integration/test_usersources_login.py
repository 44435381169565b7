"""User sources wired into the manager: logging in as an LDAP user (a real slapd),
adding users a source knows (LDAP, and real system accounts), and the rules that
keep sources apart."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tashi.cmd.cli import main as tashi_main
from tashi.cmd.manager import main as manager_main
from tashi.domain.errors import InvalidInput, TashiError, Unauthenticated
from tashi.identity.sources import LdapUsers, SystemUsers
from tashi.identity.sources.config import directory_of
from tashi.identity.sources.directory import UserDirectory
from tashi.manager.settings import ManagerSettings
from tests.integration.conftest import Rig, raw_client, start_rig, stop_rig
from tests.integration.ldap_directory import Directory, directory
from tests.integration.system_accounts import Accounts, accounts

__all__ = ["accounts", "directory"]  # the fixtures


@pytest.fixture
async def ldap_rig(tmp_path: Path, directory: Directory) -> AsyncIterator[Rig]:
    """A manager whose users come from its own table, then from the test's slapd."""
    rig, server, serving = await start_rig(tmp_path)
    rig.core.users.directory = UserDirectory([directory.source()])
    yield rig
    await stop_rig(rig, server, serving)


async def login(rig: Rig, user: str, password: str) -> httpx.Response:
    async with raw_client(base_url=rig.url) as raw:
        return await raw.post("/api/v1/login", json={"user": user, "password": password})


async def test_an_ldap_user_becomes_a_user_at_first_login(ldap_rig: Rig,
                                                         directory: Directory) -> None:
    assert [u.name for u in await ldap_rig.admin.list_users()] == ["admin"]
    out = await ldap_rig.client(None).login("alice", directory.passwords["alice"])
    me = await ldap_rig.client(out.token).whoami()
    assert (me.name, me.role) == ("alice", "admin")  # alice is in the directory's admins
    bob = await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    assert (await ldap_rig.client(bob.token).whoami()).role == "user"
    users = {u.name: u for u in await ldap_rig.admin.list_users()}
    assert (users["alice"].source, users["bob"].source) == ("ldap", "ldap")
    again = await ldap_rig.client(None).login("alice", directory.passwords["alice"])
    assert again.token != out.token
    assert len(await ldap_rig.admin.list_users()) == 3  # no second alice


async def test_wrong_password_or_unknown_name_is_refused(ldap_rig: Rig,
                                                         directory: Directory) -> None:
    for user, password in [("alice", directory.passwords["bob"]), ("carol", "whatever-1"),
                           ("dup", directory.passwords["dup"])]:  # dup: two entries match
        resp = await login(ldap_rig, user, password)
        assert resp.status_code == 401, (user, resp.text)
        assert resp.json()["message"] == "wrong user name or password"
    assert [u.name for u in await ldap_rig.admin.list_users()] == ["admin"]


async def test_a_local_user_is_never_taken_over_by_the_directory(
        ldap_rig: Rig, directory: Directory) -> None:
    await ldap_rig.admin.add_user("bob", "user", "local bob's password")
    assert (await login(ldap_rig, "bob", directory.passwords["bob"])).status_code == 401
    resp = await login(ldap_rig, "bob", "local bob's password")
    assert resp.status_code == 201, resp.text
    await ldap_rig.admin.add_user("alice", "user")  # local, tokens only
    assert (await login(ldap_rig, "alice", directory.passwords["alice"])).status_code == 401
    users = {u.name: u for u in await ldap_rig.admin.list_users()}
    assert (users["alice"].source, users["alice"].role) == ("local", "user")


async def test_the_directory_decides_the_role_at_each_login(ldap_rig: Rig,
                                                            directory: Directory) -> None:
    out = await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    # bob is made an admin in the directory: staff is now the admins' group
    ldap_rig.core.users.directory = UserDirectory([directory.source(admin_group_cn="staff")])
    await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    assert (await ldap_rig.client(out.token).whoami()).role == "admin"
    # without an admin group, the directory gives no role: Tashi's is kept
    ldap_rig.core.users.directory = UserDirectory([directory.source(admin_group_cn=None)])
    await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    assert (await ldap_rig.client(out.token).whoami()).role == "admin"


async def test_a_source_user_changes_its_password_in_the_source(ldap_rig: Rig,
                                                               directory: Directory) -> None:
    out = await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    with pytest.raises(InvalidInput, match="comes from user source ldap: change the password"):
        await ldap_rig.client(out.token).set_password("bob", "a new password 1",
                                                      directory.passwords["bob"])
    with pytest.raises(InvalidInput, match="comes from user source ldap"):
        await ldap_rig.admin.set_password("bob", "a new password 1")


async def test_a_source_no_longer_configured_lets_nobody_in(ldap_rig: Rig,
                                                            directory: Directory) -> None:
    await ldap_rig.client(None).login("bob", directory.passwords["bob"])
    ldap_rig.core.users.directory = UserDirectory()
    resp = await login(ldap_rig, "bob", directory.passwords["bob"])
    assert resp.status_code == 401


async def test_directory_down_answers_503_and_does_not_count(ldap_rig: Rig,
                                                             directory: Directory) -> None:
    down = dataclasses.replace(directory.config(), url="ldap://127.0.0.1:9",
                               connect_timeout_s=0.5)
    ldap_rig.core.users.directory = UserDirectory([LdapUsers(down)])
    for _ in range(7):  # past the limit of 5 failures per user: none counted
        resp = await login(ldap_rig, "alice", directory.passwords["alice"])
        assert resp.status_code == 503, resp.text
        assert resp.json()["message"].startswith("LDAP server ldap://127.0.0.1:9 unavailable")
        assert directory.passwords["alice"] not in resp.text
    ldap_rig.core.users.directory = UserDirectory([directory.source()])
    assert (await login(ldap_rig, "alice", directory.passwords["alice"])).status_code == 201


async def test_user_add_from_ldap(ldap_rig: Rig, directory: Directory) -> None:
    made = await ldap_rig.admin.add_user("alice", "user", source="ldap")
    assert (made.user.source, made.user.role) == ("ldap", "admin")  # the directory says
    assert (await ldap_rig.client(made.token).whoami()).name == "alice"
    with pytest.raises(InvalidInput, match="user carol is not known to user source ldap"):
        await ldap_rig.admin.add_user("carol", "user", source="ldap")
    with pytest.raises(InvalidInput, match=r"user source 'system' is not configured "
                                           r"\(configured: ldap\)"):
        await ldap_rig.admin.add_user("carol", "user", source="system")
    with pytest.raises(InvalidInput, match="keeps its password; give none"):
        await ldap_rig.admin.add_user("bob", "user", "a password 123", source="ldap")


async def test_cli_user_add_from_a_source_and_list(ldap_rig: Rig) -> None:
    flags = ["--url", ldap_rig.url, "--token", ldap_rig.admin_token]
    out = await asyncio.to_thread(CliRunner().invoke, tashi_main,
                                  [*flags, "user", "add", "bob", "--source", "ldap"])
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[0] == "user bob (user, from ldap) created"
    listed = await asyncio.to_thread(CliRunner().invoke, tashi_main, [*flags, "user", "list"])
    assert listed.stdout.splitlines()[0].split() == ["NAME", "ROLE", "SOURCE", "AGE"]
    assert listed.stdout.splitlines()[2].split()[:3] == ["bob", "user", "ldap"]
    bad = await asyncio.to_thread(CliRunner().invoke, tashi_main,
                                  [*flags, "user", "add", "zed", "--source", "ldap"])
    assert bad.exit_code != 0
    assert bad.output.strip() == "tashi: user zed is not known to user source ldap"


async def test_system_accounts_are_added_with_their_group_role(tmp_path: Path,
                                                               accounts: Accounts) -> None:
    rig, server, serving = await start_rig(tmp_path)
    try:
        rig.core.users.directory = UserDirectory([SystemUsers(admin_group=accounts.group)])
        member = await rig.admin.add_user(accounts.member, "user", source="system")
        other = await rig.admin.add_user(accounts.other, "admin", source="system")
        assert (member.user.role, other.user.role) == ("admin", "user")  # the group decides
        with pytest.raises(InvalidInput, match="not known to user source system"):
            await rig.admin.add_user("root", "user", source="system")  # uid below 1000
        with pytest.raises(Unauthenticated):  # identity only: no passwords to check
            await rig.client(None).login(accounts.member, "any password 1")
        assert (await rig.client(member.token).whoami()).role == "admin"
    finally:
        await stop_rig(rig, server, serving)


def test_settings_build_the_sources_in_order(directory: Directory, tmp_path: Path) -> None:
    settings = ManagerSettings(
        user_sources="ldap, system", ldap_url=directory.server.url,
        ldap_user_base_dn="ou=people,dc=tashi,dc=test", system_min_uid=2000)
    built = directory_of(settings)
    assert built.names == ("ldap", "system")
    assert not directory_of(ManagerSettings())


@pytest.mark.parametrize(("env", "message"), [
    ({"TASHI_USER_SOURCES": "nis"}, "TASHI_USER_SOURCES: unknown source 'nis' "
                                    "(known: system, ldap)"),
    ({"TASHI_USER_SOURCES": "ldap"}, "user source ldap needs TASHI_LDAP_URL and "
                                     "TASHI_LDAP_USER_BASE_DN"),
    ({"TASHI_USER_SOURCES": "ldap", "TASHI_LDAP_URL": "http://x", "TASHI_LDAP_USER_BASE_DN": "o=x"},
     "LDAP url 'http://x': use ldap://host[:port] or ldaps://host[:port]"),
])
def test_a_misconfigured_source_stops_the_manager_with_one_line(
        env: dict[str, str], message: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = CliRunner().invoke(manager_main, ["--db-url", f"sqlite:///{tmp_path}/t.db"])
    assert out.exit_code != 0
    assert out.output.strip().splitlines()[-1] == f"tashi: {message}"


def test_the_bind_password_file(tmp_path: Path, directory: Directory) -> None:
    secret = tmp_path / "bind"
    secret.write_text(directory.reader_password + "\n")
    settings = ManagerSettings(
        user_sources="ldap", ldap_url=directory.server.url, ldap_bind_dn=directory.config().bind_dn,
        ldap_bind_password_file=secret, ldap_user_base_dn=directory.config().user_base_dn)
    source = directory_of(settings).source("ldap")
    assert source.lookup("alice") is not None
    with pytest.raises(TashiError, match=r"TASHI_LDAP_BIND_PASSWORD_FILE .*No such file"):
        directory_of(settings.model_copy(update={"ldap_bind_password_file": secret.parent / "x"}))
