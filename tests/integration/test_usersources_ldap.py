"""LdapUsers against a real slapd started here (tests/integration/slapd.py)."""

from __future__ import annotations

import logging
import secrets
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from tashi.domain.errors import InvalidInput, Unavailable
from tashi.domain.states import Role
from tashi.identity.sources import UserSource, user_filter
from tests.integration.ldap_directory import (
    INJECTION,
    PEOPLE,
    POSIX_GROUPS,
    READER,
    Directory,
    directory,
    load_directory,
)
from tests.integration.slapd import start_slapd, tool

__all__ = ["directory"]  # the fixture


def test_it_is_a_user_source(directory: Directory) -> None:
    assert isinstance(directory.source(), UserSource)
    assert directory.server.start_s < 10


def test_lookup_existing_user(directory: Directory) -> None:
    alice = directory.source().lookup("alice")
    assert alice is not None
    assert (alice.name, alice.uid, alice.source) == ("alice", 20001, "ldap")
    assert alice.groups == {"admins", "staff"}
    bob = directory.source().lookup("bob")
    assert bob is not None
    assert bob.groups == {"staff"}


def test_lookup_missing_or_invalid_user(directory: Directory) -> None:
    source = directory.source()
    assert source.lookup("carol") is None
    assert source.lookup("Alice") is None  # not a Tashi name, though LDAP would match it


def test_authenticate(directory: Directory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = directory.source()
    good = directory.passwords["alice"]
    alice = source.authenticate("alice", good)
    assert alice is not None
    assert alice.uid == 20001
    assert source.authenticate("alice", good + "x") is None
    assert source.authenticate("alice", directory.passwords["bob"]) is None
    assert source.authenticate("carol", good) is None
    assert not any(good in r.getMessage() for r in caplog.records)


def test_empty_password_fails(directory: Directory) -> None:
    # An empty simple bind is an anonymous bind that "succeeds" on many servers.
    assert directory.source().authenticate("alice", "") is None


def test_filter_injection_finds_nothing(directory: Directory) -> None:
    source = directory.source()
    assert source.lookup(INJECTION) is None
    assert source.lookup("*") is None
    assert source.authenticate(INJECTION, directory.passwords["alice"]) is None
    assert user_filter("uid", INJECTION) == r"(uid=\2a\29\28uid=\2a)"
    # The escaped filter, sent to the real server, matches no one; the raw one, everyone.
    assert _count(directory, user_filter("uid", "*")) == 0
    assert _count(directory, "(uid=*)") >= 3


def _count(directory: Directory, query: str) -> int:
    out = subprocess.run(
        [tool("ldapsearch"), "-x", "-LLL", "-H", directory.server.url, "-D", READER,
         "-w", directory.reader_password, "-b", PEOPLE, query, "dn"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.count("dn: ")


def test_ambiguous_user_is_refused(directory: Directory, caplog: pytest.LogCaptureFixture) -> None:
    source = directory.source()
    assert source.lookup("dup") is None
    assert source.authenticate("dup", directory.passwords["dup"]) is None
    assert "several entries" in caplog.text


def test_admin_group_gives_admin_role(directory: Directory) -> None:
    source = directory.source()
    alice, bob = source.lookup("alice"), source.lookup("bob")
    assert alice is not None
    assert bob is not None
    assert source.role_of(alice) is Role.ADMIN
    assert source.role_of(bob) is Role.USER
    no_admins = directory.source(admin_group_cn=None)
    assert no_admins.role_of(alice) is None


def test_posix_groups_by_member_uid(directory: Directory) -> None:
    source = directory.source(group_base_dn=POSIX_GROUPS, group_member_attribute="memberUid",
                              admin_group_cn="ops")
    bob = source.lookup("bob")
    assert bob is not None
    assert bob.groups == {"ops"}
    assert source.role_of(bob) is Role.ADMIN


def test_wrong_service_password_is_unavailable(directory: Directory) -> None:
    wrong = "not-the-reader-password-" + secrets.token_hex(4)
    with pytest.raises(Unavailable) as caught:
        directory.source(bind_password=SecretStr(wrong)).lookup("alice")
    assert directory.server.url in caught.value.message
    assert wrong not in caught.value.message
    assert "invalidCredentials" in caught.value.message


def test_config_is_checked_and_hides_its_password(directory: Directory) -> None:
    assert directory.reader_password not in repr(directory.config())
    for bad in ({"url": "http://x"}, {"user_attribute": "uid)(x"}, {"bind_password": None},
                {"group_base_dn": None}, {"url": "ldaps://x", "start_tls": True}):
        with pytest.raises(InvalidInput):
            directory.config(**bad)


def test_server_stopped_is_unavailable(tmp_path: Path) -> None:
    server = start_slapd(tmp_path)
    try:
        directory = load_directory(server)
        source = directory.source()
        password = directory.passwords["alice"]
        assert source.authenticate("alice", password) is not None
    finally:
        server.stop()
    with pytest.raises(Unavailable) as on_lookup:
        source.lookup("alice")
    with pytest.raises(Unavailable) as on_authenticate:
        source.authenticate("alice", password)
    for caught in (on_lookup, on_authenticate):
        message = caught.value.message
        assert server.url in message
        assert password not in message
        assert directory.reader_password not in message
        assert caught.value.retryable
