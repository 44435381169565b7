"""The user sources a manager is configured with, asked in order.

A user of Tashi's table comes from exactly one source: ``local`` (Tashi's own
passwords and tokens) or a configured source's name. That binding is what keeps
sources apart: a directory's ``alice`` never logs in as a local ``alice``, nor the
other way round. A name Tashi does not know yet is looked for in each source in the
configured order, and the first that vouches for it (knows it; for a login, also
accepts the password) is the one it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tashi.domain.errors import InvalidInput, Unavailable
from tashi.domain.states import Role
from tashi.identity.sources.base import ExternalUser, UserSource

LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Vouched:
    """A user a source vouches for, with the role it gives (``None``: it gives none)."""

    user: ExternalUser
    role: Role | None


class UserDirectory:
    def __init__(self, sources: Sequence[UserSource] = ()) -> None:
        names = [s.name for s in sources]
        if LOCAL in names or len(set(names)) != len(names):
            raise InvalidInput(f"user sources {', '.join(names)}: each needs its own name, "
                               f"and {LOCAL!r} is Tashi's own table")
        self._sources = {s.name: s for s in sources}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def __bool__(self) -> bool:
        return bool(self._sources)

    def source(self, name: str) -> UserSource:
        """The configured source called ``name``; InvalidInput naming the others if none."""
        try:
            return self._sources[name]
        except KeyError:
            known = ", ".join(self._sources) or "none"
            raise InvalidInput(f"user source {name!r} is not configured "
                               f"(configured: {known})") from None

    def lookup(self, source: str, name: str) -> Vouched | None:
        """What ``source`` says of ``name``: None if it does not know it."""
        return self._vouch(self.source(source), lambda s: s.lookup(name))

    def authenticate(self, name: str, password: str, *,
                     source: str | None = None) -> Vouched | None:
        """The first source (or just ``source``) accepting ``password`` for ``name``.

        None if none does; Unavailable if none does and one could not be asked (the
        user may well be there: a refusal would be a lie)."""
        asked = [self.source(source)] if source is not None else list(self._sources.values())
        down: Unavailable | None = None
        for s in asked:
            try:
                vouched = self._vouch(s, lambda s: s.authenticate(name, password))
            except Unavailable as exc:
                down = exc
                continue
            if vouched is not None:
                return vouched
        if down is not None:
            raise down
        return None

    @staticmethod
    def _vouch(source: UserSource,
               ask: Callable[[UserSource], ExternalUser | None]) -> Vouched | None:
        user = ask(source)
        return None if user is None else Vouched(user, source.role_of(user))
