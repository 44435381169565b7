"""The one error tree of Tashi.

Each class carries the HTTP status the API answers with, the exit code the CLI
returns, and whether a caller may retry. Lower-layer errors are translated into
these once, at the boundary (``raise X(...) from exc``)::

    TashiError
    ├── InvalidInput          400  bad name, size, or request shape
    ├── Unauthenticated       401  no or bad credentials
    ├── Forbidden             403  authenticated, but not allowed
    ├── NotFound              404  no such resource (or not visible to the caller)
    ├── Conflict              409  duplicate name, stale generation, wrong state
    │   ├── InvalidTransition 409  the state machine forbids this change
    │   ├── StaleGeneration   409  a write read at a generation another write passed
    │   └── LeaseLost         409  a fenced write of a replica whose lease was taken over
    ├── Unavailable           503  a dependency is down; retryable
    │   └── RateLimited       429  too many failed attempts: wait, then retry
    └── DriverError           500  the hypervisor failed to do what was asked
"""

from __future__ import annotations


class TashiError(Exception):
    """Base of every error Tashi raises on purpose."""

    http_status = 500
    exit_code = 1
    retryable = False
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def is_refusal(self) -> bool:
        """An answer that trying again cannot change: the manager refused the credential
        or the request (4xx, but not 429 "wait and retry"). Unreachable, 5xx and 429 are
        transient: clients retry those."""
        return not self.retryable and 400 <= self.http_status < 500


class InvalidInput(TashiError):
    http_status = 400
    exit_code = 2
    code = "invalid_input"


class Unauthenticated(TashiError):
    http_status = 401
    exit_code = 3
    code = "unauthenticated"


class Forbidden(TashiError):
    http_status = 403
    exit_code = 3
    code = "forbidden"


class NotFound(TashiError):
    http_status = 404
    exit_code = 4
    code = "not_found"


class Conflict(TashiError):
    http_status = 409
    exit_code = 5
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class StaleGeneration(Conflict):
    """The write was read at a generation another write has passed: re-read, retry.
    On the wire a plain ``conflict`` (the caller's remedy is the same)."""


class LeaseLost(Conflict):
    """A write fenced by a lease's token (:mod:`tashi.store.fencing`) found the lease
    held by another replica, or with another token, or expired: nothing was written.
    On the wire a plain ``conflict`` (it never reaches one: only leader work is fenced)."""


class Unavailable(TashiError):
    http_status = 503
    exit_code = 6
    retryable = True
    code = "unavailable"


class RateLimited(Unavailable):
    """Too many failed password checks: wait, then try again."""

    http_status = 429
    code = "rate_limited"


class DriverError(TashiError):
    http_status = 500
    exit_code = 7
    code = "driver_error"


ERRORS_BY_CODE: dict[str, type[TashiError]] = {
    cls.code: cls
    for cls in (
        TashiError,
        InvalidInput,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        InvalidTransition,
        Unavailable,
        RateLimited,
        DriverError,
    )
}
