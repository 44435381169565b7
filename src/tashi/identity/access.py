"""Who may see and touch what. Checked server side, in one place."""

from __future__ import annotations

from tashi.domain.errors import Forbidden, NotFound, Unauthenticated
from tashi.domain.models import Instance, Principal, User


def require_user(principal: Principal) -> User:
    if principal.user is None:
        raise Forbidden(f"{principal.label} may only use the agent endpoints")
    return principal.user


def require_admin(principal: Principal) -> User:
    user = require_user(principal)
    if not user.is_admin:
        raise Forbidden(f"user {user.name} is not an admin")
    return user


def require_host_agent(principal: Principal, host: str) -> None:
    """The agent of ``host`` (or an admin) may act for ``host``; no one else."""
    if principal.is_admin:
        return
    if principal.host is None:
        raise Forbidden(f"{principal.label} is not the agent of host {host}")
    if principal.host != host:
        raise Forbidden(f"{principal.label} may not act for host {host}")


def visible(principal: Principal, instance: Instance) -> bool:
    user = principal.user
    return user is not None and (user.is_admin or instance.owner == user.name)


def check_visible(principal: Principal, instance: Instance, ref: str) -> Instance:
    """Other users' instances are reported as missing, never as forbidden."""
    if not visible(principal, instance):
        raise NotFound(f"instance {ref} not found")
    return instance


def no_principal() -> Unauthenticated:
    return Unauthenticated("missing or invalid bearer token (set TASHI_TOKEN or run tashi login)")
