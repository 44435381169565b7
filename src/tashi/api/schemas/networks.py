"""One network in detail: what ``GET /networks/{name}`` answers."""

from __future__ import annotations

from tashi.api.schemas.base import Wire
from tashi.api.schemas.catalog import NetworkOut
from tashi.domain.states import InstanceState


class AttachedInstanceOut(Wire):
    id: int
    name: str
    owner: str
    state: InstanceState


class NetworkShowOut(NetworkOut):
    instances: list[AttachedInstanceOut]  # those with a NIC on it the caller may see
