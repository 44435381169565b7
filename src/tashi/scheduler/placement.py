"""The primitive policy, pure: a function of a cluster snapshot and a request.

The public face of the placement core; the parts live beside it:

- :mod:`~tashi.scheduler.model`: :class:`HostSnapshot`, :class:`PlacementRequest`,
  :class:`ClusterSnapshot`, :class:`Decision`;
- :mod:`~tashi.scheduler.filters` (one module per filter) and
  :mod:`~tashi.scheduler.weighers` (one per weigher);
- :mod:`~tashi.scheduler.policy`: :class:`Policy` and the registry
  (:func:`policy_named`: ``spread``, the default, and ``pack``);
- :mod:`~tashi.scheduler.external`: :class:`ExternalPolicy`, an operator's program;
- :mod:`~tashi.scheduler.placer`: :class:`Placer`, which places requests one after
  another, fast (:mod:`~tashi.scheduler.index`), and explains refusals in numbers.

Nothing here does I/O except an external policy's program; the scheduler service
feeds it snapshots.
"""

from __future__ import annotations

from tashi.scheduler.external import ExternalPolicy
from tashi.scheduler.model import (
    ClusterFacts,
    ClusterSnapshot,
    Decision,
    HostSnapshot,
    PlacementRequest,
)
from tashi.scheduler.placer import Placer
from tashi.scheduler.policy import DEFAULT_POLICY, POLICIES, Policy, policy_named

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "ClusterFacts",
    "ClusterSnapshot",
    "Decision",
    "ExternalPolicy",
    "HostSnapshot",
    "PlacementRequest",
    "Placer",
    "Policy",
    "policy_named",
]
