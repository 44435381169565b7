"""Users, passwords and API tokens: log in, mint and revoke tokens, change passwords.

Passwords are kept as argon2 hashes (:mod:`tashi.common.passwords`), tokens as SHA-256
hashes (:mod:`tashi.common.secrets`); neither is ever logged or answered back, except a
new token, once, to whoever asked for it. Failed password checks are counted per user
and per client address by a :class:`LoginLimiter`: past a limit, every attempt (a right
password too) is refused with :class:`RateLimited` for a period that doubles with each
further failure. Methods are synchronous (argon2 is meant to be slow): the API runs
them in a thread.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from tashi.common.clock import Clock
from tashi.common.passwords import hash_password, verify_password
from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.models import Principal, User
from tashi.domain.names import check_name
from tashi.domain.states import Role
from tashi.identity.access import require_user
from tashi.identity.loginlimit import LoginLimiter
from tashi.identity.sources.directory import LOCAL, UserDirectory, Vouched
from tashi.identity.tokenpolicy import TokenPolicy, expiry
from tashi.store.base import Store, TokenRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewToken:
    record: TokenRecord
    token: str  # shown once to whoever asked; only its hash is kept


class UserService:
    def __init__(self, store: Store, clock: Clock, limiter: LoginLimiter | None = None,
                 directory: UserDirectory | None = None) -> None:
        self._store = store
        self._clock = clock
        self.limiter = limiter or LoginLimiter(clock)
        self.directory = directory or UserDirectory()
        self.policy = TokenPolicy(store)

    # --- users ---------------------------------------------------------------------------
    def create(self, name: str, role: Role, password: str | None, by: str,
               source: str = LOCAL) -> tuple[User, NewToken]:
        """Create user ``name`` and a first API token: a local user (with a password if
        given), or one the user source ``source`` knows (its role, if the source gives
        roles; the source checks its password, if it has one)."""
        check_name("user", name)
        if source != LOCAL:
            if password is not None:
                raise InvalidInput(f"user {name} comes from user source {source}, which "
                                   "keeps its password; give none")
            vouched = self.directory.lookup(source, name)
            if vouched is None:
                raise InvalidInput(f"user {name} is not known to user source {source}")
            role = vouched.role or role
        password_hash = None if password is None else hash_password(password)
        user = self._store.create_user(name, role, source)
        if password_hash is not None:
            self._store.set_password_hash(user.name, password_hash)
        log.info("user %s: created (%s, from %s%s) by %s", user.name, role.value, source,
                 ", with a password" if password_hash else "", by)
        self._event(user.name, f"user {user.name} created ({role.value}, from {source}) by {by}",
                    EventKind.USER_ADDED, f"user {by}")
        return user, self._mint(user.name, "initial", None)

    def list_users(self, caller: User) -> list[User]:
        """Every user; for an admin only."""
        if not caller.is_admin:
            raise Forbidden(f"user {caller.name} is not an admin")
        return self._store.list_users()

    def delete(self, name: str, by: str) -> None:
        self._store.delete_user(name)
        log.info("user %s: deleted, with its tokens, by %s", name, by)
        self._event(name, f"user {name} deleted, with its tokens, by {by}",
                    EventKind.USER_REMOVED, f"user {by}")

    def set_password(self, caller: User, name: str, password: str, *,
                     current: str | None, address: str) -> None:
        """An admin sets anyone's password; a user changes its own, given the current one."""
        source = self._store.get_user(name).source
        if source != LOCAL:
            raise InvalidInput(f"user {name} comes from user source {source}: "
                               "change the password there")
        if not caller.is_admin:
            if name != caller.name:
                raise Forbidden(f"user {caller.name} may change only its own password")
            if current is None:
                raise InvalidInput("give the current password to change it")
            self._check_password(name, current, address)
        self._store.set_password_hash(name, hash_password(password))
        log.info("user %s: password changed by %s", name, caller.name)
        self._event(name, f"user {name}: password changed by {caller.name}",
                    EventKind.USER_CHANGED, f"user {caller.name}")

    # --- logging in --------------------------------------------------------------------------
    def principal_for(self, token: str) -> Principal | None:
        """Who holds the API token or agent credential ``token`` now; None if no one does
        (unknown, revoked or expired)."""
        return self._store.principal_for_token(hash_token(token), self._clock.now())

    def login(self, name: str, password: str, *, address: str, token_name: str | None,
              expires_in_s: int | None) -> NewToken:
        """A new API token for the user whose password this is."""
        self._check_password(name, password, address)
        now = self._clock.now()
        label = token_name or f"login-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        minted = self.create_token(name, label, expires_in_s)
        log.info("user %s: logged in from %s (token %d %s)", name, address,
                 minted.record.id, minted.record.name)
        return minted

    def _check_password(self, name: str, password: str, address: str) -> None:
        """Checked by Tashi for local users, by their source for the others; a name
        Tashi does not know is asked of the configured sources (and, if one vouches
        for it, becomes a user from that source)."""
        self.limiter.attempt(name, address)
        try:
            user: User | None = self._store.get_user(name)
        except NotFound:
            user = None
        try:
            if (user is None and not self.directory) or (user and user.source == LOCAL):
                ok = self._check_local(name, password)
            else:
                ok = self._check_source(user, name, password)
        except Unavailable:
            self.limiter.forgive(name, address)
            raise
        if not ok:
            log.warning("login as %r from %s refused: wrong password or no such user",
                        name, address)
            raise Unauthenticated("wrong user name or password")
        self.limiter.succeeded(name, address)

    def _check_local(self, name: str, password: str) -> bool:
        try:
            stored = self._store.get_password_hash(name)
        except NotFound:
            stored = None
        verified = verify_password(stored, password)
        if verified.ok and verified.rehashed is not None:
            self._store.set_password_hash(name, verified.rehashed)
            log.info("user %s: password hash upgraded to today's parameters", name)
        return verified.ok

    def _check_source(self, user: User | None, name: str, password: str) -> bool:
        """The user's own source decides; for a new name, the first source vouching."""
        if user is not None and user.source not in self.directory.names:
            log.warning("user %s comes from user source %s, which is not configured: "
                        "login refused", name, user.source)
            return False
        vouched = self.directory.authenticate(
            name, password, source=None if user is None else user.source)
        if vouched is None:
            return False
        if user is None:
            self._adopt(name, vouched)
        elif vouched.role is not None and vouched.role is not user.role:
            try:
                self._store.set_user_role(name, vouched.role)
                log.info("user %s: role %s -> %s, as user source %s says", name,
                         user.role.value, vouched.role.value, user.source)
            except Conflict as exc:
                log.warning("user %s: role kept: %s", name, exc.message)
        return True

    def _adopt(self, name: str, vouched: Vouched) -> None:
        """Make a user of one a source vouched for at its first login."""
        role, source = vouched.role or Role.USER, vouched.user.source
        try:
            self._store.create_user(name, role, source)
        except Conflict:  # a concurrent first login made it
            return
        log.info("user %s: created at first login from user source %s (%s, uid %s)",
                 name, source, role.value, vouched.user.uid)
        self._event(name, f"user {name} created at first login from user source {source} "
                    f"({role.value})", EventKind.USER_ADDED, f"user source {source}")

    # --- tokens ------------------------------------------------------------------------------
    def create_token(self, user: str, name: str, expires_in_s: int | None, *,
                     ceiling: datetime | None = None) -> NewToken:
        """A new token of ``user`` named ``name`` (unique among its tokens), expiring at
        ``ceiling`` at the latest (see :mod:`tashi.identity.tokenpolicy`)."""
        check_name("token", name)
        if any(t.name == name for t in self._store.list_tokens(user=user)):
            raise Conflict(f"user {user} already has a token named {name}; "
                           "revoke it or pick another name")
        minted = self._mint(user, name, expires_in_s, ceiling)
        log.info("user %s: token %d %s created", user, minted.record.id, name)
        until = minted.record.expires_at
        clamped = " (the expiry of the token that made it)" if until == ceiling else ""
        expiry = "" if until is None else f", expiring at {until:%Y-%m-%d %H:%M:%S}Z{clamped}"
        self._event(user, f"user {user}: token {minted.record.id} {name} created{expiry}",
                    EventKind.TOKEN_CREATED, f"user {user}")
        return minted

    def create_token_with_token(self, principal: Principal, name: str,
                                expires_in_s: int | None) -> NewToken:
        """A new token of the caller's, made with the token it called with: refused
        when tokens come from password logins only, and never outliving that token."""
        user = require_user(principal)
        self.policy.check_token_made_token(user)
        return self.create_token(user.name, name, expires_in_s,
                                 ceiling=principal.token_expires_at)

    def list_tokens(self, caller: User, user: str | None) -> list[TokenRecord]:
        """The caller's own tokens; an admin may name another ``user``."""
        owner = user or caller.name
        if owner != caller.name and not caller.is_admin:
            raise Forbidden(f"user {caller.name} may list only its own tokens")
        self._store.get_user(owner)
        return self._store.list_tokens(user=owner)

    def revoke_token(self, caller: User, token_id: int) -> TokenRecord:
        """Revoke one of the caller's tokens (an admin: any); others' are "not found"."""
        record = self._store.get_token(token_id)
        if record.user != caller.name and not caller.is_admin:
            raise NotFound(f"token {token_id} not found")
        self._store.delete_token(token_id)
        holder = f"user {record.user}" if record.user else f"host {record.host}"
        log.info("%s: token %d %s revoked by %s", holder, record.id, record.name, caller.name)
        self._event(record.user, f"{holder}: token {record.id} {record.name} revoked by "
                    f"{caller.name}", EventKind.TOKEN_REVOKED, f"user {caller.name}")
        return record

    def _event(self, user: str | None, message: str, kind: EventKind, actor: str) -> None:
        """An event about ``user`` (never a secret in it: names and ids only)."""
        self._store.add_event(message, facts=EventFacts(kind, actor, user))

    def _mint(self, user: str, name: str, expires_in_s: int | None,
              ceiling: datetime | None = None) -> NewToken:
        expires_at = expiry(self._clock.now(), expires_in_s, ceiling)
        token = new_token()
        record = self._store.add_token(hash_token(token), name, user=user, expires_at=expires_at)
        return NewToken(record, token)
