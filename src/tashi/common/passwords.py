"""Passwords: hashed with argon2id (argon2-cffi), checked in constant time, never kept.

The store holds only :func:`hash_password`'s output (a PHC string carrying its own salt
and parameters). :func:`verify_password` checks a password against it and, when the
hash was made with parameters weaker than today's, hands back a new hash to store.
Checking a user who has no hash costs the same as checking one who has (a dummy hash
is verified), so the time of an answer does not tell which users exist.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tashi.domain.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps one request cheap

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) defaults


@dataclass(frozen=True, slots=True)
class Verified:
    ok: bool
    rehashed: str | None = None  # a new hash to store instead: the parameters changed


def check_password(password: str) -> str:
    """``password`` if it is acceptable as a new password (its length), else InvalidInput."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable new password (see :func:`check_password`)."""
    return _hasher.hash(check_password(password))


def verify_password(stored: str | None, password: str) -> Verified:
    """Whether ``password`` matches the hash ``stored`` (None: no password, never ok)."""
    if stored is None or len(password) > MAX_LENGTH:
        _matches(_dummy_hash(), password[:MAX_LENGTH])  # the same work either way
        return Verified(ok=False)
    if not _matches(stored, password):
        return Verified(ok=False)
    if _hasher.check_needs_rehash(stored):
        return Verified(ok=True, rehashed=_hasher.hash(password))
    return Verified(ok=True)


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):  # a mismatch, or not an argon2 hash
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))
