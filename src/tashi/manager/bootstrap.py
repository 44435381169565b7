"""A manager's start: its store opened (an admin user with a token and the default
network made on the first start of a cluster), and its core built from its settings.
Shared by ``tashi-manager`` and the embedded cluster of ``tashi up``."""

from __future__ import annotations

import logging

from tashi.common.clock import SystemClock
from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import Conflict
from tashi.domain.models import NetworkKind
from tashi.domain.states import Role
from tashi.identity.sources.config import directory_of
from tashi.manager.core import ManagerCore
from tashi.manager.networks import DEFAULT_NETWORK
from tashi.manager.pgnotify import notifier_for
from tashi.manager.settings import ManagerSettings
from tashi.store import open_store
from tashi.store.base import Store

log = logging.getLogger(__name__)



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


def prepare_store(settings: ManagerSettings) -> tuple[Store, str | None]:
    """Open (migrating first) the store; make the admin and default network if new.
    Returns the store and the new admin's token (None if users existed)."""
    store = open_store(settings.db_url)
    token = ensure_admin(store)
    ensure_default_network(store)
    return store, token


def build_core(settings: ManagerSettings, store: Store) -> ManagerCore:
    """The core over ``store``; its notifier crosses replicas when the store is
    PostgreSQL (the one place where the kind of notifier is chosen)."""
    join = settings.join_token.get_secret_value() if settings.join_token else None
    return ManagerCore.build(store, SystemClock(), image_dir=settings.image_dir,
                             heartbeat_timeout_s=settings.heartbeat_timeout_s,
                             join_token=join, directory=directory_of(settings),
                             notifier=notifier_for(settings.db_url),
                             migrations_per_host=settings.migrations_per_host,
                             ha_lease_s=settings.ha_lease_s)
