"""Claims: what an instance holds on a host, as records of their own.

An instance claims its resource vector on its bound host (role ``primary``) while it
holds resources there (:data:`~tashi.domain.states.HOLDS_RESOURCES`); an instance being
migrated will also claim room on its target (role ``incoming``), so it can hold room on
two hosts at once. A host's usage is the sum of the claims on it, and accounting reads
who held what, where, since when.

Claims are decided by one pure function, :func:`wanted_claims`, of the instance's spec
and derived state: the store keeps them beside the instance, rewritten in the same
transaction as every write that changes them, as it keeps the derived state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tashi.domain.models import Instance
from tashi.domain.resources import Resources
from tashi.domain.states import HOLDS_RESOURCES, MIGRATING


class ClaimRole(StrEnum):
    PRIMARY = "primary"  # the host it is bound to
    INCOMING = "incoming"  # the host it is migrating to


@dataclass(frozen=True, slots=True)
class Claim:
    """Instance ``instance_id`` (of ``owner``) holds ``resources`` on ``host``."""

    instance_id: int
    instance: str  # its name, for people
    owner: str
    host: str
    role: ClaimRole
    resources: Resources
    since: datetime


#: What one instance claims: for each role, the host and the vector.
Wanted = dict[ClaimRole, tuple[str, Resources]]


def wanted_claims(instance: Instance) -> Wanted:
    """What ``instance`` claims as it is now (nothing while it holds no resources)."""
    host, migration = instance.spec.host, instance.spec.migration
    if host is None or instance.state not in HOLDS_RESOURCES:
        return {}
    wanted: Wanted = {ClaimRole.PRIMARY: (host, instance.spec.resources)}
    if migration is not None and instance.state in MIGRATING:
        wanted[ClaimRole.INCOMING] = (migration.target, instance.spec.resources)
    return wanted
