"""Networks: what instances' NICs attach to. Any user sees them; admins add them."""

from __future__ import annotations

import logging

from tashi.domain.errors import Conflict
from tashi.domain.models import Instance, Network, NetworkKind, Principal
from tashi.domain.names import check_name
from tashi.identity.access import require_admin, require_user
from tashi.store.base import Store

log = logging.getLogger(__name__)
DEFAULT_NETWORK = "default"  # what an instance's NIC attaches to when it names none


class NetworkService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list_networks(self, principal: Principal) -> list[Network]:
        """Every network."""
        require_user(principal)
        return self._store.list_networks()

    def show(self, principal: Principal, name: str) -> tuple[Network, list[Instance]]:
        """The network, and the instances with a NIC on it that the caller may see (a
        user: their own; an admin: everyone's), by id."""
        user = require_user(principal)
        network = self._store.get_network(check_name("network", name))
        owner = None if user.is_admin else user.name
        attached = [i for i in self._store.list_instances(owner=owner)
                    if any(nic.network == network.name for nic in i.spec.nics)]
        return network, attached

    def remove(self, principal: Principal, name: str) -> None:
        """Remove network ``name`` (admins only): Conflict while an instance has a NIC
        on it, and for the default network, which instances get when they name none."""
        admin = require_admin(principal)
        name = check_name("network", name)
        if name == DEFAULT_NETWORK:
            raise Conflict(f"network {name!r} is the default (instances created without "
                           "--network attach to it): it stays")
        self._store.delete_network(name)
        log.info("network %s: removed by user %s", name, admin.name)

    def create(self, principal: Principal, name: str, kind: NetworkKind) -> Network:
        """Add network ``name`` (admins only); Conflict if the name is taken."""
        admin = require_admin(principal)
        network = self._store.create_network(check_name("network", name), kind)
        log.info("network %s: created (%s) by user %s", network.name, kind.value, admin.name)
        return network
