"""First start of a cluster: an admin user with a token, and the default network."""

from __future__ import annotations

import logging

from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import Conflict
from tashi.domain.models import NetworkKind
from tashi.domain.states import Role
from tashi.store.base import Store

log = logging.getLogger(__name__)

DEFAULT_NETWORK = "default"


def ensure_admin(store: Store, name: str = "admin") -> str | None:
    """Create the first admin and return a new token for it; None if users exist."""
    if store.list_users():
        return None
    store.create_user(name, Role.ADMIN)
    token = new_token()
    store.add_token(hash_token(token), "bootstrap", user=name)
    log.info("user %s: created as the first admin", name)
    return token


def ensure_default_network(store: Store) -> None:
    if any(n.name == DEFAULT_NETWORK for n in store.list_networks()):
        return
    try:
        store.create_network(DEFAULT_NETWORK, NetworkKind.USER)
    except Conflict:  # another manager made it meanwhile
        return
    log.info("network %s: created (QEMU user-mode NAT)", DEFAULT_NETWORK)
