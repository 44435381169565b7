"""Optional user sources besides Tashi's own user table.

* :class:`SystemUsers` — the system's accounts (``pwd``/``grp``, i.e. NSS): identity only.
* :class:`LdapUsers` — an LDAP directory: identity, passwords, and an admin group.

Each is a :class:`UserSource`: ``lookup(name)`` and ``authenticate(name, password)``
answer an :class:`ExternalUser` or ``None``, and raise
:class:`~tashi.domain.errors.Unavailable` when the source cannot be reached.
"""

from tashi.identity.sources.base import ExternalUser, UserSource
from tashi.identity.sources.ldap import LdapConfig, LdapUsers, user_filter
from tashi.identity.sources.system import DEFAULT_MIN_UID, SystemUsers

__all__ = [
    "DEFAULT_MIN_UID",
    "ExternalUser",
    "LdapConfig",
    "LdapUsers",
    "SystemUsers",
    "UserSource",
    "user_filter",
]
