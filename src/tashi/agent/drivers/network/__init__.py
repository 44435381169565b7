"""The network family: what prepares an instance's NIC on its host, one implementation
per network kind (see :mod:`tashi.agent.drivers.composition` for how a host's are
chosen)."""

from tashi.agent.drivers.network.base import NicBackend, NicProvider
from tashi.agent.drivers.network.user import UserNic

__all__ = ["NicBackend", "NicProvider", "UserNic"]
