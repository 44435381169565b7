"""Users, their password hashes and their tokens: that part of :class:`~tashi.store.sql.SqlStore`.

A mixin, so the store's module stays readable; it uses the store's session makers and
clock. Deleting a user is checked inside its transaction: on PostgreSQL the admins'
rows are locked first, so two admins deleting each other at once cannot leave none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.errors import Conflict, NotFound
from tashi.domain.models import Principal, User
from tashi.domain.states import Role
from tashi.store.base import TokenRecord, check_token_holder
from tashi.store.documents import maybe_utc
from tashi.store.principals import PrincipalCache
from tashi.store.sql import convert
from tashi.store.sql.tables import InstanceRow, TokenRow, UserRow


class SqlUsers:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]
    _clock: Callable[[], datetime]
    _principals: PrincipalCache  # cleared by every change to tokens or users

    def create_user(self, name: str, role: Role, source: str = "local") -> User:
        row = UserRow(name=name, role=role.value, source=source, created_at=self._clock())
        try:
            with self._write.begin() as s:
                s.add(row)
                s.flush()
        except IntegrityError as exc:
            raise Conflict(f"user {name!r} already exists") from exc
        return convert.user(row)

    def set_user_role(self, name: str, role: Role) -> User:
        with self._write.begin() as s:
            row = _user(s, name)
            if row.role == Role.ADMIN.value and role is not Role.ADMIN:
                _keep_an_admin(s, name)
            row.role = role.value
            s.flush()
            user = convert.user(row)
        self._principals.clear()
        return user

    def get_user(self, name: str) -> User:
        with self._read.begin() as s:
            return convert.user(_user(s, name))

    def list_users(self) -> list[User]:
        with self._read.begin() as s:
            return [convert.user(r) for r in s.scalars(select(UserRow).order_by(UserRow.id))]

    def delete_user(self, name: str) -> None:
        with self._write.begin() as s:
            row = _user(s, name)
            if row.role == Role.ADMIN.value:
                _keep_an_admin(s, name)
            owned = s.scalar(select(func.count()).select_from(InstanceRow)
                             .where(InstanceRow.owner == name)) or 0
            if owned:
                raise Conflict(f"user {name!r} still owns {owned} instance(s); "
                               "destroy them first")
            s.execute(delete(TokenRow).where(TokenRow.user_name == name))
            s.delete(row)
        self._principals.clear()  # after the commit: nothing read before it is kept

    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        with self._write.begin() as s:
            _user(s, name).password_hash = password_hash

    def get_password_hash(self, name: str) -> str | None:
        with self._read.begin() as s:
            return _user(s, name).password_hash

    # --- tokens ------------------------------------------------------------------------
    def add_token(
        self, token_hash: str, name: str, *, user: str | None = None,
        host: str | None = None, expires_at: datetime | None = None,
    ) -> TokenRecord:
        check_token_holder(name, user, host)
        row = TokenRow(
            token_hash=token_hash, name=name, user_name=user, host_name=host,
            created_at=self._clock(), expires_at=expires_at,
        )
        try:
            with self._write.begin() as s:
                if user is not None:
                    _user(s, user)
                s.add(row)
                s.flush()
        except IntegrityError as exc:
            raise Conflict(f"token {name!r}: this token is already registered") from exc
        return convert.token(row)

    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        # Every request asks this: one query of plain columns, no ORM objects.
        query = (select(TokenRow.host_name, TokenRow.expires_at, UserRow.id, UserRow.name,
                        UserRow.role, UserRow.created_at, UserRow.source)
                 .outerjoin(UserRow, UserRow.name == TokenRow.user_name)
                 .where(TokenRow.token_hash == token_hash))
        cached = self._principals.get(token_hash, now)
        if cached is not None:
            return cached
        epoch = self._principals.epoch
        with self._read.begin() as s:
            tok: Any = s.execute(query).first()  # a Row of the columns above, or None
        if tok is None or (tok.expires_at is not None and tok.expires_at <= now):
            return None
        if tok.host_name is not None:
            found = Principal(host=tok.host_name)
        elif tok.id is None:
            return None
        else:
            found = Principal(user=convert.user(tok),
                              token_expires_at=maybe_utc(tok.expires_at))
        self._principals.put(token_hash, found, tok.expires_at, epoch)
        return found

    def list_tokens(self, *, user: str | None = None,
                    host: str | None = None) -> list[TokenRecord]:
        where: list[ColumnElement[bool]] = []
        if user is not None:
            where.append(TokenRow.user_name == user)
        if host is not None:
            where.append(TokenRow.host_name == host)
        with self._read.begin() as s:
            rows = s.scalars(select(TokenRow).where(*where).order_by(TokenRow.id))
            return [convert.token(r) for r in rows]

    def get_token(self, token_id: int) -> TokenRecord:
        with self._read.begin() as s:
            return convert.token(_token(s, token_id))

    def delete_token(self, token_id: int) -> TokenRecord:
        with self._write.begin() as s:
            row = _token(s, token_id)
            s.delete(row)
            record = convert.token(row)
        self._principals.clear()  # after the commit: nothing read before it is kept
        return record


def _user(s: Session, name: str) -> UserRow:
    row = s.scalars(select(UserRow).where(UserRow.name == name)).first()
    if row is None:
        raise NotFound(f"user {name!r} not found")
    return row


def _token(s: Session, token_id: int) -> TokenRow:
    row = s.get(TokenRow, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    return row


def _keep_an_admin(s: Session, name: str) -> None:
    """Conflict if ``name`` is the last admin (the admins' rows locked on PostgreSQL)."""
    admins = select(UserRow.id).where(UserRow.role == Role.ADMIN.value)
    if len(s.scalars(admins.with_for_update()).all()) <= 1:
        raise Conflict(f"user {name!r} is the last admin; make another admin first")
