"""A real slapd loaded with a small directory, for the tests of LDAP users: people
alice (in groups admins and staff) and bob (staff; memberUid of posix group ops), two
entries both named dup, and a read-only service account."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from tashi.identity.sources import LdapConfig, LdapUsers
from tests.integration.slapd import SUFFIX, Slapd, hash_password, start_slapd

PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
POSIX_GROUPS = f"ou=posixgroups,{SUFFIX}"
READER = f"cn=tashi-reader,ou=services,{SUFFIX}"
INJECTION = "*)(uid=*"


@dataclass(frozen=True)
class Directory:
    server: Slapd
    reader_password: str
    passwords: dict[str, str]

    def config(self, **changes: object) -> LdapConfig:
        base = LdapConfig(url=self.server.url, user_base_dn=PEOPLE, bind_dn=READER,
                          bind_password=SecretStr(self.reader_password), group_base_dn=GROUPS,
                          admin_group_cn="admins", connect_timeout_s=2, timeout_s=5)
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def source(self, **changes: object) -> LdapUsers:
        return LdapUsers(self.config(**changes))


def _person(name: str, uid: int, password: str, ou: str = PEOPLE) -> str:
    return (f"dn: uid={name},{ou}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
            f"uid: {name}\ncn: {name}\nsn: {name}\nuidNumber: {uid}\ngidNumber: {uid}\n"
            f"homeDirectory: /home/{name}\nuserPassword: {hash_password(password)}\n")


def _group(cn: str, *members: str) -> str:
    lines = "".join(f"member: uid={m},{PEOPLE}\n" for m in members)
    return f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}"


def load_directory(server: Slapd) -> Directory:
    passwords = {name: secrets.token_urlsafe(12) for name in ("alice", "bob", "dup")}
    reader = secrets.token_urlsafe(12)
    entries = [
        *(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n"
          for ou in ("people", "groups", "posixgroups", "services")),
        f"dn: {READER}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: tashi-reader\nuserPassword: {hash_password(reader)}\n",
        _person("alice", 20001, passwords["alice"]),
        _person("bob", 20002, passwords["bob"]),
        _person("dup", 20003, passwords["dup"]),
        f"dn: ou=more,{PEOPLE}\nobjectClass: organizationalUnit\nou: more\n",
        _person("dup", 20004, passwords["dup"], ou=f"ou=more,{PEOPLE}"),
        _group("admins", "alice"),
        _group("staff", "alice", "bob"),
        f"dn: cn=ops,{POSIX_GROUPS}\nobjectClass: posixGroup\ncn: ops\ngidNumber: 3000\n"
        "memberUid: bob\n",
    ]
    server.ldapadd("\n".join(entries))
    return Directory(server=server, reader_password=reader, passwords=passwords)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    try:
        logging.getLogger(__name__).info("slapd at %s started in %.3fs", server.url,
                                         server.start_s)
        yield load_directory(server)
    finally:
        server.stop()
