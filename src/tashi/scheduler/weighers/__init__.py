"""Host weighers, one per module (Nova's layout): each orders the hosts that passed
the filters. Ties between equal hosts are the placer's: least recently chosen first."""

from __future__ import annotations

from tashi.scheduler.weighers.base import Weigher, Window
from tashi.scheduler.weighers.pack import PackWeigher
from tashi.scheduler.weighers.spread import SpreadWeigher

__all__ = ["PackWeigher", "SpreadWeigher", "Weigher", "Window"]
