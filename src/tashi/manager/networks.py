"""Networks: what instances' NICs attach to. Any user sees them; admins add them."""

from __future__ import annotations

import logging

from tashi.domain.models import Network, NetworkKind, Principal
from tashi.domain.names import check_name
from tashi.identity.access import require_admin, require_user
from tashi.store.base import Store

log = logging.getLogger(__name__)


class NetworkService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list_networks(self, principal: Principal) -> list[Network]:
        """Every network."""
        require_user(principal)
        return self._store.list_networks()

    def create(self, principal: Principal, name: str, kind: NetworkKind) -> Network:
        """Add network ``name`` (admins only); Conflict if the name is taken."""
        admin = require_admin(principal)
        network = self._store.create_network(check_name("network", name), kind)
        log.info("network %s: created (%s) by user %s", network.name, kind.value, admin.name)
        return network
