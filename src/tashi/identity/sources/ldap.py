"""Users from an LDAP directory (OpenLDAP, 389 DS, Active Directory), through ldap3.

``lookup`` searches for the user with the service account (``bind_dn``; anonymous when
unset). ``authenticate`` finds the user's DN the same way, then binds as that DN with
the given password; an empty password is refused before anything is sent, because
many servers treat a simple bind with an empty password as an anonymous bind that
"succeeds". Values put into filters are escaped (RFC 4515), never concatenated raw.

Each call opens its own short connection (safe from several threads). A server that
cannot be reached, times out or fails a search raises ``Unavailable`` naming the
server's URL; no message and no log line carries a password.
"""

from __future__ import annotations

import logging
import math
import re
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from tashi.domain.errors import InvalidInput, Unavailable
from tashi.domain.states import Role
from tashi.identity.sources.base import ExternalUser, acceptable_name, group_role

with warnings.catch_warnings():
    # ldap3 2.9 imports names pyasn1 >= 0.6 deprecates; harmless, and only at import.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3(\.|$)")
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars

log = logging.getLogger(__name__)

#: An attribute name (``uid``, ``sAMAccountName``) or an OID: safe inside a filter.
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$")
_SUCCESS, _SIZE_LIMIT_EXCEEDED = 0, 4
#: Bind results that mean "the server cannot answer now", not "wrong password".
_BIND_UNAVAILABLE = frozenset({51, 52, 80})  # busy, unavailable, other


@dataclass(frozen=True, slots=True)
class LdapConfig:
    """Where the directory is and how users and groups are laid out in it.

    ``group_member_attribute`` is ``member`` for groupOfNames (values are user DNs)
    or ``memberUid`` for posixGroup (values are user names). Members of the group
    whose ``cn`` is ``admin_group_cn`` under ``group_base_dn`` get :attr:`Role.ADMIN`.
    TLS: an ``ldaps://`` URL, or ``start_tls`` on an ``ldap://`` one; certificates are
    checked against ``ca_file`` (or the system's CAs).
    """

    url: str
    user_base_dn: str
    user_attribute: str = "uid"
    uid_attribute: str = "uidNumber"
    bind_dn: str | None = None
    bind_password: SecretStr | None = None
    group_base_dn: str | None = None
    group_member_attribute: str = "member"
    admin_group_cn: str | None = None
    start_tls: bool = False
    ca_file: str | None = None
    connect_timeout_s: float = 5.0
    timeout_s: float = 10.0  # for each answer; whole seconds (rounded up) on the socket

    def __post_init__(self) -> None:
        _split_url(self.url)
        if self.start_tls and self.url.startswith("ldaps://"):
            raise InvalidInput(f"LDAP url {self.url}: start_tls is for ldap://, not ldaps://")
        for attr in (self.user_attribute, self.uid_attribute, self.group_member_attribute):
            if not _ATTRIBUTE.fullmatch(attr):
                raise InvalidInput(f"LDAP attribute name {attr!r} is not valid")
        if (self.bind_dn is None) != (self.bind_password is None):
            raise InvalidInput("LDAP bind_dn and bind_password go together")
        if self.admin_group_cn is not None and self.group_base_dn is None:
            raise InvalidInput("LDAP admin_group_cn needs group_base_dn")

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.url.startswith("ldaps://")


def _split_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, ldaps)`` of ``ldap[s]://host[:port][/]``; InvalidInput otherwise."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidInput(f"LDAP url {url!r}: {exc}") from exc
    if parts.scheme not in ("ldap", "ldaps") or not host or parts.path not in ("", "/") \
            or parts.query or parts.username is not None:
        raise InvalidInput(f"LDAP url {url!r}: use ldap://host[:port] or ldaps://host[:port]")
    ldaps = parts.scheme == "ldaps"
    return host, port or (636 if ldaps else 389), ldaps


@dataclass(frozen=True, slots=True)
class _Found:
    dn: str
    uid: int | None


def user_filter(attribute: str, name: str) -> str:
    """The search filter for one user, with ``name`` escaped (``*`` stays a literal)."""
    return f"({attribute}={escape_filter_chars(name)})"


@dataclass(frozen=True, slots=True)
class LdapUsers:
    """A :class:`~tashi.identity.sources.base.UserSource` backed by an LDAP directory."""

    config: LdapConfig
    name: str = "ldap"

    def lookup(self, name: str) -> ExternalUser | None:
        if not acceptable_name(self.name, name):
            return None
        with self._service() as conn:
            found = self._find(conn, name)
            return None if found is None else self._user(conn, name, found)

    def authenticate(self, name: str, password: str) -> ExternalUser | None:
        if not password:
            log.info("user source %s: refused empty password for %s", self.name, name[:80])
            return None
        if not acceptable_name(self.name, name):
            return None
        with self._service() as conn:
            found = self._find(conn, name)
            if found is None or not self._bind_as(name, found.dn, password):
                return None
            return self._user(conn, name, found)

    def role_of(self, user: ExternalUser) -> Role | None:
        """``ADMIN`` for members of the configured admin group, ``USER`` for the rest;
        ``None`` (Tashi's admins decide) when no admin group is configured."""
        return group_role(self.config.admin_group_cn, user)

    # -- connections ---------------------------------------------------------------

    @contextmanager
    def _connection(self, dn: str | None, password: str | None) -> Iterator[Any]:
        """An open (not yet bound) connection; any LDAP error inside becomes Unavailable."""
        cfg = self.config
        host, port, ldaps = _split_url(cfg.url)
        conn = None
        try:
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=cfg.ca_file)
            server = ldap3.Server(host, port=port, use_ssl=ldaps, get_info=ldap3.NONE,
                                  connect_timeout=cfg.connect_timeout_s,
                                  tls=tls if cfg.uses_tls else None)
            conn = ldap3.Connection(server, user=dn, password=password, read_only=True,
                                    auto_referrals=False,
                                    receive_timeout=max(1, math.ceil(cfg.timeout_s)),
                                    raise_exceptions=False)
            conn.open(read_server_info=False)
            if cfg.start_tls:
                conn.start_tls(read_server_info=False)
            yield conn
        except LDAPException as exc:
            raise self._unavailable(str(exc) or type(exc).__name__, password) from exc
        finally:
            if conn is not None:
                _close(conn)

    @contextmanager
    def _service(self) -> Iterator[Any]:
        """A connection bound as the service account (or anonymously)."""
        cfg = self.config
        secret = cfg.bind_password.get_secret_value() if cfg.bind_password else None
        with self._connection(cfg.bind_dn, secret) as conn:
            if not conn.bind(read_server_info=False):
                who = cfg.bind_dn or "anonymous"
                raise self._unavailable(f"bind as {who} refused: {_describe(conn)}", secret)
            yield conn

    def _bind_as(self, name: str, dn: str, password: str) -> bool:
        """Whether ``password`` is the password of the entry ``dn``."""
        with self._connection(dn, password) as conn:
            if conn.bind(read_server_info=False):
                log.debug("user source %s: user %s authenticated as %s", self.name, name, dn)
                return True
            if conn.result.get("result") in _BIND_UNAVAILABLE:
                raise self._unavailable(f"bind as {dn} failed: {_describe(conn)}", password)
            log.info("user source %s: authentication failed for %s: %s",
                     self.name, name, _describe(conn))
            return False

    def _unavailable(self, reason: str, *secrets: str | None) -> Unavailable:
        for secret in secrets:
            if secret:
                reason = reason.replace(secret, "***")
        log.warning("user source %s: LDAP server %s unavailable: %s",
                    self.name, self.config.url, reason)
        return Unavailable(f"LDAP server {self.config.url} unavailable: {reason}")

    # -- searches ------------------------------------------------------------------

    def _search(self, conn: Any, base: str, query: str, attributes: list[str],
                size_limit: int = 0) -> list[dict[str, Any]]:
        conn.search(base, query, search_scope=ldap3.SUBTREE, attributes=attributes,
                    size_limit=size_limit, time_limit=max(1, int(self.config.timeout_s)))
        if conn.result.get("result") not in (_SUCCESS, _SIZE_LIMIT_EXCEEDED):
            raise self._unavailable(f"search under {base} failed: {_describe(conn)}")
        return [r for r in conn.response or () if r.get("type") == "searchResEntry"]

    def _find(self, conn: Any, name: str) -> _Found | None:
        cfg = self.config
        entries = self._search(conn, cfg.user_base_dn, user_filter(cfg.user_attribute, name),
                               [cfg.uid_attribute], size_limit=2)
        if not entries:
            log.debug("user source %s: no user %s under %s", self.name, name, cfg.user_base_dn)
            return None
        if len(entries) > 1:
            log.warning("user source %s: refused user %s: several entries under %s match",
                        self.name, name, cfg.user_base_dn)
            return None
        entry = entries[0]
        return _Found(dn=str(entry["dn"]), uid=_first_int(entry, cfg.uid_attribute))

    def _user(self, conn: Any, name: str, found: _Found) -> ExternalUser:
        return ExternalUser(name=name, uid=found.uid, groups=self._groups(conn, name, found.dn),
                            source=self.name)

    def _groups(self, conn: Any, name: str, dn: str) -> frozenset[str]:
        cfg = self.config
        if cfg.group_base_dn is None:
            return frozenset()
        member = name if cfg.group_member_attribute.lower() == "memberuid" else dn
        query = f"({cfg.group_member_attribute}={escape_filter_chars(member)})"
        entries = self._search(conn, cfg.group_base_dn, query, ["cn"])
        return frozenset(cn for e in entries for cn in _values(e, "cn"))


def _close(conn: Any) -> None:
    """Unbind, and close the socket ldap3 leaves open when connecting fails."""
    with suppress(LDAPException):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with suppress(OSError):
            sock.close()


def _values(entry: dict[str, Any], attribute: str) -> list[str]:
    attributes = entry.get("attributes") or {}
    value = attributes.get(attribute, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _first_int(entry: dict[str, Any], attribute: str) -> int | None:
    for value in _values(entry, attribute):
        with suppress(ValueError):
            return int(value)
    return None


def _describe(conn: Any) -> str:
    result = conn.result or {}
    text = result.get("message") or ""
    return f"{result.get('description', 'unknown')}" + (f" ({text})" if text else "")
