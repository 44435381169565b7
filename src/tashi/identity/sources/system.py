"""Users from the system's account database: what ``getent passwd`` shows (``/etc/passwd``
and whatever NSS adds, such as LDAP through sssd), read with :mod:`pwd` and :mod:`grp`.

System accounts give identity, not passwords: Tashi cannot read shadow passwords and
does not speak PAM, so :meth:`SystemUsers.authenticate` always answers ``None``. Pair
this source with API tokens (an admin issues a token to a user the system knows).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from dataclasses import dataclass

from tashi.domain.states import Role
from tashi.identity.sources.base import ExternalUser, acceptable_name, group_role

log = logging.getLogger(__name__)

DEFAULT_MIN_UID = 1000


@dataclass(frozen=True, slots=True)
class SystemUsers:
    """Accounts with a uid of at least ``min_uid`` (system and service accounts sit
    below it) and, when ``required_group`` is set, only members of that group."""

    min_uid: int = DEFAULT_MIN_UID
    required_group: str | None = None
    admin_group: str | None = None  # its members are Tashi admins
    name: str = "system"

    def role_of(self, user: ExternalUser) -> Role | None:
        """``ADMIN`` for members of ``admin_group``, ``USER`` for the rest; ``None``
        (Tashi's admins decide) when no admin group is set."""
        return group_role(self.admin_group, user)

    def lookup(self, name: str) -> ExternalUser | None:
        if not acceptable_name(self.name, name):
            return None
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            log.debug("user source %s: no account %s", self.name, name)
            return None
        return self._accept(entry)

    def lookup_uid(self, uid: int) -> ExternalUser | None:
        """The account with this numeric uid, under the same rules as :meth:`lookup`."""
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            log.debug("user source %s: no account with uid %d", self.name, uid)
            return None
        if not acceptable_name(self.name, entry.pw_name):
            return None
        return self._accept(entry)

    def authenticate(self, name: str, password: str) -> ExternalUser | None:
        """Always ``None``: system accounts give identity, not passwords (use tokens)."""
        log.debug("user source %s: no password check for %s (identity only)", self.name, name)
        return None

    def _accept(self, entry: pwd.struct_passwd) -> ExternalUser | None:
        user = entry.pw_name
        if entry.pw_uid < self.min_uid:
            log.info("user source %s: refused user %s: uid %d is below the minimum %d",
                     self.name, user, entry.pw_uid, self.min_uid)
            return None
        groups = _group_names(user, entry.pw_gid)
        if self.required_group is not None and self.required_group not in groups:
            log.info("user source %s: refused user %s: not in group %s",
                     self.name, user, self.required_group)
            return None
        return ExternalUser(name=user, uid=entry.pw_uid, groups=groups, source=self.name)


def _group_names(user: str, primary_gid: int) -> frozenset[str]:
    """Names of the user's primary and supplementary groups (gids without a name are left out)."""
    names: set[str] = set()
    for gid in os.getgrouplist(user, primary_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            log.debug("user %s: group id %d has no name; left out", user, gid)
    return frozenset(names)
