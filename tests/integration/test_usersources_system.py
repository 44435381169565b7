"""SystemUsers against real accounts made with useradd/groupadd (as root), removed after."""

from __future__ import annotations

import logging
import pwd
import secrets

import pytest

from tashi.identity.sources import DEFAULT_MIN_UID, ExternalUser, SystemUsers, UserSource
from tests.integration.system_accounts import Accounts, accounts

__all__ = ["accounts"]  # the fixture


def test_it_is_a_user_source() -> None:
    assert isinstance(SystemUsers(), UserSource)


def test_lookup_by_name_gives_uid_and_groups(accounts: Accounts) -> None:
    entry = pwd.getpwnam(accounts.member)
    assert entry.pw_uid >= DEFAULT_MIN_UID
    user = SystemUsers().lookup(accounts.member)
    assert user is not None
    assert (user.name, user.uid, user.source) == (accounts.member, entry.pw_uid, "system")
    assert isinstance(user, ExternalUser)
    assert accounts.group in user.groups
    assert accounts.member in user.groups  # the personal primary group useradd made


def test_lookup_by_uid(accounts: Accounts) -> None:
    uid = pwd.getpwnam(accounts.other).pw_uid
    user = SystemUsers().lookup_uid(uid)
    assert user is not None
    assert (user.name, user.uid) == (accounts.other, uid)
    assert accounts.group not in user.groups
    assert SystemUsers().lookup_uid(2**31 - 7) is None


def test_missing_user_is_none() -> None:
    assert SystemUsers().lookup(f"tashi-nobody-{secrets.token_hex(4)}") is None


def test_min_uid_filters_system_accounts(accounts: Accounts) -> None:
    assert SystemUsers().lookup("root") is None
    root = SystemUsers(min_uid=0).lookup("root")
    assert root is not None
    assert root.uid == 0
    uid = pwd.getpwnam(accounts.member).pw_uid
    assert SystemUsers(min_uid=uid + 1).lookup(accounts.member) is None
    assert SystemUsers(min_uid=uid).lookup(accounts.member) is not None


def test_required_group(accounts: Accounts) -> None:
    source = SystemUsers(required_group=accounts.group)
    assert source.lookup(accounts.member) is not None
    assert source.lookup(accounts.other) is None


def test_names_that_are_not_tashi_names_are_refused(
    accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tashi.identity.sources")
    source = SystemUsers()
    assert pwd.getpwnam(accounts.dotted)  # it exists on the system...
    assert source.lookup(accounts.dotted) is None  # ...but is no Tashi user
    assert source.lookup_uid(pwd.getpwnam(accounts.dotted).pw_uid) is None
    assert source.lookup(accounts.member.upper()) is None
    assert source.lookup("../etc/passwd") is None
    refused = [r.getMessage() for r in caplog.records if "not a valid Tashi user name" in
               r.getMessage()]
    assert len(refused) == 4
    assert any(accounts.dotted in m for m in refused)


def test_authenticate_is_always_none(accounts: Accounts) -> None:
    assert SystemUsers().authenticate(accounts.member, "anything") is None
    assert SystemUsers().authenticate(accounts.member, "") is None
