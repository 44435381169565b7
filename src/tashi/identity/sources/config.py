"""The user sources named by the manager's settings (``TASHI_USER_SOURCES`` and the
``TASHI_SYSTEM_*`` and ``TASHI_LDAP_*`` variables), built and checked at start: a
source named but not configured stops the manager with one line saying what is missing.

The settings are read through :class:`SourceSettings`, the part of
:class:`tashi.manager.settings.ManagerSettings` this module needs, so identity does not
depend on the manager above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from tashi.domain.errors import InvalidInput
from tashi.identity.sources.base import UserSource
from tashi.identity.sources.directory import UserDirectory
from tashi.identity.sources.ldap import LdapConfig, LdapUsers
from tashi.identity.sources.system import SystemUsers

KINDS = ("system", "ldap")


class SourceSettings(Protocol):
    """The settings of the user sources (see ``ManagerSettings`` for each one's meaning)."""

    @property
    def user_sources(self) -> str: ...
    @property
    def system_min_uid(self) -> int: ...
    @property
    def system_group(self) -> str | None: ...
    @property
    def system_admin_group(self) -> str | None: ...
    @property
    def ldap_url(self) -> str | None: ...
    @property
    def ldap_user_base_dn(self) -> str | None: ...
    @property
    def ldap_user_attribute(self) -> str: ...
    @property
    def ldap_uid_attribute(self) -> str: ...
    @property
    def ldap_bind_dn(self) -> str | None: ...
    @property
    def ldap_bind_password(self) -> SecretStr | None: ...
    @property
    def ldap_bind_password_file(self) -> Path | None: ...
    @property
    def ldap_group_base_dn(self) -> str | None: ...
    @property
    def ldap_group_member_attribute(self) -> str: ...
    @property
    def ldap_admin_group(self) -> str | None: ...
    @property
    def ldap_start_tls(self) -> bool: ...
    @property
    def ldap_ca_file(self) -> str | None: ...


def directory_of(settings: SourceSettings) -> UserDirectory:
    """The configured sources, in the order given; InvalidInput if one cannot be built."""
    names = [n.strip() for n in settings.user_sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise InvalidInput(f"TASHI_USER_SOURCES: unknown source {unknown[0]!r} "
                           f"(known: {', '.join(KINDS)})")
    return UserDirectory([_source(name, settings) for name in names])


def _source(kind: str, s: SourceSettings) -> UserSource:
    if kind == "system":
        return SystemUsers(min_uid=s.system_min_uid, required_group=s.system_group,
                           admin_group=s.system_admin_group)
    if s.ldap_url is None or s.ldap_user_base_dn is None:
        raise InvalidInput("user source ldap needs TASHI_LDAP_URL and TASHI_LDAP_USER_BASE_DN")
    return LdapUsers(LdapConfig(
        url=s.ldap_url, user_base_dn=s.ldap_user_base_dn, user_attribute=s.ldap_user_attribute,
        uid_attribute=s.ldap_uid_attribute, bind_dn=s.ldap_bind_dn,
        bind_password=_bind_password(s), group_base_dn=s.ldap_group_base_dn,
        group_member_attribute=s.ldap_group_member_attribute,
        admin_group_cn=s.ldap_admin_group, start_tls=s.ldap_start_tls, ca_file=s.ldap_ca_file))


def _bind_password(s: SourceSettings) -> SecretStr | None:
    if s.ldap_bind_password_file is None:
        return s.ldap_bind_password
    if s.ldap_bind_password is not None:
        raise InvalidInput("give TASHI_LDAP_BIND_PASSWORD or TASHI_LDAP_BIND_PASSWORD_FILE, "
                           "not both")
    try:
        text = s.ldap_bind_password_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"TASHI_LDAP_BIND_PASSWORD_FILE {s.ldap_bind_password_file}: "
                           f"{exc.strerror}") from exc
    return SecretStr(text.rstrip("\r\n"))
