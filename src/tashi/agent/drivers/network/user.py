"""``user`` networks: the hypervisor's own NAT (QEMU's user mode). Outbound only; the
hypervisor driver isolates the guest from its host (QEMU: ``restrict=on``)."""

from __future__ import annotations

import logging

from tashi.agent.drivers.base import NicPlan
from tashi.agent.drivers.network.base import USER, NicBackend
from tashi.domain.models import NetworkKind

log = logging.getLogger(__name__)


class UserNic:
    """Nothing to make on the host: the NAT lives inside the hypervisor's process and
    ends with it."""

    @property
    def kind(self) -> str:
        return NetworkKind.USER

    def backend(self, instance_id: int, index: int, nic: NicPlan) -> NicBackend:
        return NicBackend(USER)

    async def prepare(self, instance_id: int, index: int, nic: NicPlan) -> None:
        log.debug("instance %d, NIC %d (%s): user-mode NAT, nothing to prepare on the host",
                  instance_id, index, nic.mac)
