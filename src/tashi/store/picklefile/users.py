"""Users, their password hashes and their tokens: that part of
:class:`~tashi.store.picklefile.PickleStore` (a mixin using the store's draft-and-save
writes, so each method is all or nothing like the rest of the store)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from tashi.domain.errors import Conflict, NotFound
from tashi.domain.models import Principal, User
from tashi.domain.states import Role
from tashi.store.base import TokenRecord, check_token_holder
from tashi.store.documents import maybe_utc
from tashi.store.picklefile.state import State


class PickleUsers:
    # The store's, which this mixin is part of: its draft-and-save writes, its reads, its clock.
    _writing: Callable[[], contextlib.AbstractContextManager[State]]
    _reading: Callable[[], contextlib.AbstractContextManager[State]]
    _now: Callable[[], datetime]

    def create_user(self, name: str, role: Role, source: str = "local") -> User:
        with self._writing() as st:
            if name in st.users:
                raise Conflict(f"user {name!r} already exists")
            user = User(id=st.take_id("users"), name=name, role=role, created_at=self._now(),
                        source=source)
            st.users[name] = user
            return user

    def set_user_role(self, name: str, role: Role) -> User:
        with self._writing() as st:
            user = _user(st, name)
            if user.is_admin and role is not Role.ADMIN \
                    and sum(u.is_admin for u in st.users.values()) <= 1:
                raise Conflict(f"user {name!r} is the last admin; make another admin first")
            st.users[name] = changed = replace(user, role=role)
            return changed

    def get_user(self, name: str) -> User:
        with self._reading() as st:
            return _user(st, name)

    def list_users(self) -> list[User]:
        with self._reading() as st:
            return list(st.users.values())

    def delete_user(self, name: str) -> None:
        with self._writing() as st:
            user = _user(st, name)
            if user.is_admin and sum(u.is_admin for u in st.users.values()) <= 1:
                raise Conflict(f"user {name!r} is the last admin; make another admin first")
            owned = sum(i.owner == name for i in st.instances.values())
            if owned:
                raise Conflict(f"user {name!r} still owns {owned} instance(s); "
                               "destroy them first")
            del st.users[name]
            st.passwords.pop(name, None)
            st.tokens = {h: t for h, t in st.tokens.items() if t.user != name}

    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        with self._writing() as st:
            _user(st, name)
            if password_hash is None:
                st.passwords.pop(name, None)
            else:
                st.passwords[name] = password_hash

    def get_password_hash(self, name: str) -> str | None:
        with self._reading() as st:
            _user(st, name)
            return st.passwords.get(name)

    # --- tokens ------------------------------------------------------------------------
    def add_token(
        self, token_hash: str, name: str, *, user: str | None = None,
        host: str | None = None, expires_at: datetime | None = None,
    ) -> TokenRecord:
        check_token_holder(name, user, host)
        with self._writing() as st:
            if user is not None:
                _user(st, user)
            if token_hash in st.tokens:
                raise Conflict(f"token {name!r}: this token is already registered")
            record = TokenRecord(
                id=st.take_id("tokens"), token_hash=token_hash, name=name, user=user,
                host=host, created_at=self._now(), expires_at=maybe_utc(expires_at),
            )
            st.tokens[token_hash] = record
            return record

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        with self._reading() as st:
            tok = st.tokens.get(token_hash)
            if tok is None or (tok.expires_at is not None and tok.expires_at <= now):
                return None
            if tok.host is not None:
                return Principal(host=tok.host)
            user = st.users.get(tok.user or "")
            return None if user is None else Principal(user=user)

    def list_tokens(self, *, user: str | None = None,
                    host: str | None = None) -> list[TokenRecord]:
        with self._reading() as st:
            found = [t for t in st.tokens.values()
                     if (user is None or t.user == user) and (host is None or t.host == host)]
        return sorted(found, key=lambda t: t.id)

    def get_token(self, token_id: int) -> TokenRecord:
        with self._reading() as st:
            return _token(st, token_id)

    def delete_token(self, token_id: int) -> TokenRecord:
        with self._writing() as st:
            record = _token(st, token_id)
            del st.tokens[record.token_hash]
            return record


def _user(st: State, name: str) -> User:
    user = st.users.get(name)
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def _token(st: State, token_id: int) -> TokenRecord:
    for record in st.tokens.values():
        if record.id == token_id:
            return record
    raise NotFound(f"token {token_id} not found")
