"""What every user source is: a place outside Tashi's user table that can say whether a
user exists (:meth:`UserSource.lookup`) and, if it holds passwords, check one
(:meth:`UserSource.authenticate`).

Sources are synchronous and pure of the API: callers in async code run them in a
thread. A source answers ``None`` for "no such user" and "wrong password" alike and
raises :class:`~tashi.domain.errors.Unavailable` when it cannot answer at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tashi.domain.names import NAME_PATTERN
from tashi.domain.states import Role

log = logging.getLogger(__name__)

_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class ExternalUser:
    """A user as a source knows it: a valid Tashi user name, the source's numeric id
    (``None`` when the source has none), the names of its groups, and the source's name."""

    name: str
    uid: int | None
    groups: frozenset[str]
    source: str


@runtime_checkable
class UserSource(Protocol):
    """The contract of a user source.

    ``lookup`` answers whether ``name`` exists there; ``authenticate`` whether
    ``password`` is that user's. Both return ``None`` for no (unknown user, wrong or
    empty password, a name that is not a valid Tashi user name), never raise for bad
    input, and raise ``Unavailable`` only when the source itself cannot be reached.
    Neither logs a password.
    """

    @property
    def name(self) -> str:
        """The source's name: ``system``, ``ldap``; a user's ``source`` names it."""
        ...

    def lookup(self, name: str) -> ExternalUser | None: ...

    def authenticate(self, name: str, password: str) -> ExternalUser | None: ...

    def role_of(self, user: ExternalUser) -> Role | None:
        """The role the source gives ``user``; ``None`` if the source does not decide roles."""
        ...


def group_role(admin_group: str | None, user: ExternalUser) -> Role | None:
    """``ADMIN`` for members of ``admin_group`` (compared case-insensitively), ``USER``
    for the rest; ``None`` without an admin group."""
    if admin_group is None:
        return None
    if admin_group.casefold() in {g.casefold() for g in user.groups}:
        return Role.ADMIN
    return Role.USER


def acceptable_name(source: str, name: str) -> bool:
    """True if ``name`` is a valid Tashi user name; otherwise log why it is refused."""
    if _NAME.fullmatch(name):
        return True
    log.info("user source %s: refused user name %r: not a valid Tashi user name", source, name[:80])
    return False
