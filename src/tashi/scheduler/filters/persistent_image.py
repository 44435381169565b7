"""A persistent image is never open twice: an instance writing to an image that
another instance already uses runs nowhere (a cluster-wide fact, the same for every host)."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class PersistentImageFilter(Filter):
    __slots__ = ()
    name = "persistent-image"
    scope = Scope.CLUSTER

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        images = request.persistent_images
        return not images or images.isdisjoint(facts.persistent_images_in_use)

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        n = len(removed)
        images = ", ".join(sorted(request.persistent_images))
        return [(n, f"{n} refused: persistent image {images} already in use")]
