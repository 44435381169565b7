"""The instance lifecycle, applied to the store: create, shutdown, destroy, bind.

Every state change goes through :func:`tashi.domain.states.check_transition`
and leaves an event naming the instance, the old and new state and why.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import replace

from tashi.common.clock import Clock
from tashi.domain.errors import Conflict, InvalidInput, NotFound
from tashi.domain.models import (
    DiskSpec,
    Instance,
    InstanceSpec,
    InstanceStatus,
    NewInstance,
    NicSpec,
    Principal,
)
from tashi.domain.names import check_image_name, check_name
from tashi.domain.resources import ZERO, check_request
from tashi.domain.states import HOLDS_RESOURCES, HostState, InstanceState, check_transition
from tashi.manager.access import check_visible, require_user
from tashi.manager.notifier import PENDING, Notifier, host_key
from tashi.store.base import Store

log = logging.getLogger(__name__)
MAX_INSTANCE_ID = 2**63 - 1
S = InstanceState


def new_mac() -> str:
    """A random address in QEMU's locally administered 52:54:00 range."""
    tail = secrets.token_bytes(3)
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


class InstanceService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier) -> None:
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._bind_lock = threading.Lock()  # binds are check-then-write: one at a time

    # --- user actions ---------------------------------------------------------------

    def create(self, principal: Principal, *, name: str, image: str, cores: int,
               memory_mib: int, persistent: bool, networks: list[str],
               shutdown_timeout_s: int) -> Instance:
        user = require_user(principal)
        check_name("instance", name)
        check_request(cores, memory_mib)
        self._check_image(check_image_name(image), persistent, user.name, principal.is_admin)
        nics = tuple(NicSpec(network=self._check_network(n), mac=new_mac()) for n in networks)
        spec = InstanceSpec(cores=cores, memory_mib=memory_mib,
                            disks=(DiskSpec(image=image, persistent=persistent),),
                            nics=nics, shutdown_timeout_s=shutdown_timeout_s)
        instance = self._store.create_instance(NewInstance(name=name, owner=user.name, spec=spec))
        self._event(instance, f"created by {user.name}: {cores} cores, {memory_mib} MiB, "
                              f"image {image}{' (persistent)' if persistent else ''}")
        self._notifier.bump(PENDING)
        return instance

    def _check_image(self, image: str, persistent: bool, user: str, admin: bool) -> None:
        try:
            record = self._store.get_image(image)
        except NotFound:
            raise InvalidInput(f"unknown image {image!r} (see: tashi image list)") from None
        if not persistent:
            return
        if record.owner != user and not admin:
            raise InvalidInput(f"image {image!r} belongs to {record.owner}: only its owner "
                               "may write to it (drop --persistent)")
        for other in self._store.list_instances():
            if other.state is not S.EXITED and any(
                d.persistent and d.image == image for d in other.spec.disks
            ):
                raise Conflict(f"image {image!r} is already in use, persistently, by "
                               f"instance {other.id}")

    def _check_network(self, network: str) -> str:
        try:
            return self._store.get_network(check_name("network", network)).name
        except NotFound:
            raise InvalidInput(f"unknown network {network!r}") from None

    def get(self, principal: Principal, ref: str) -> Instance:
        """An instance by id or by name, if the caller may see it."""
        user = require_user(principal)
        if ref.isdigit():
            if int(ref) > MAX_INSTANCE_ID:
                raise NotFound(f"instance {ref} not found")
            return check_visible(principal, self._store.get_instance(int(ref)), ref)
        owner = None if user.is_admin else user.name
        found = self._store.list_instances(owner=owner, name=ref)
        if not found:
            raise NotFound(f"instance {ref} not found")
        if len(found) > 1:
            raise Conflict(f"instance name {ref} is used by several owners: use its id")
        return found[0]

    def list_visible(self, principal: Principal) -> list[Instance]:
        user = require_user(principal)
        return self._store.list_instances(owner=None if user.is_admin else user.name)

    def shutdown(self, principal: Principal, ref: str) -> Instance:
        instance = self.get(principal, ref)
        return self.transition(instance, S.SHUTTING_DOWN,
                               f"graceful shutdown asked by {principal.label}")

    def destroy(self, principal: Principal, ref: str) -> Instance | None:
        """Destroy: at once if no host holds it, else through Destroying."""
        instance = self.get(principal, ref)
        if instance.spec.host is None:
            check_transition(instance.state, S.DESTROYING, what=f"instance {instance.name}")
            self._store.delete_instance(instance.id, generation=instance.generation)
            self._event(instance, f"destroyed by {principal.label} (it had no host)")
            self._notifier.bump(PENDING)
            return None
        return self.transition(instance, S.DESTROYING, f"destroy asked by {principal.label}")

    # --- the scheduler's action ---------------------------------------------------------

    def bind(self, instance_id: int, host_name: str, generation: int) -> Instance:
        with self._bind_lock:
            instance = self._store.get_instance(instance_id)
            if instance.generation != generation:
                raise Conflict(f"instance {instance_id} changed (generation "
                               f"{instance.generation}, not {generation})")
            check_transition(instance.state, S.ACTIVATING, what=f"instance {instance.name}")
            host = self._store.get_host(host_name)
            if host.state is not HostState.NORMAL:
                raise Conflict(f"host {host_name} is {host.state}")
            used = sum((i.spec.resources for i in self._holding(host_name)), start=ZERO)
            if not (used + instance.spec.resources).fits_in(host.capacity):
                raise Conflict(f"host {host_name} lacks room for instance {instance.name}")
            spec = replace(instance.spec, host=host_name)
            return self.transition(instance, S.ACTIVATING, f"placed on host {host_name}",
                                   spec=spec)

    def _holding(self, host: str) -> list[Instance]:
        return self._store.list_instances(host=host, states=HOLDS_RESOURCES)

    def note_unplaced(self, instance_id: int, reason: str) -> None:
        """Keep the scheduler's reason for not placing a Pending instance."""
        instance = self._store.get_instance(instance_id)
        if instance.status.message != reason:
            self._store.set_instance_status(
                instance_id, InstanceStatus(message=reason, observed_at=self._clock.now()))

    # --- shared -------------------------------------------------------------------------

    def transition(self, instance: Instance, new: InstanceState, why: str, *,
                   spec: InstanceSpec | None = None,
                   status: InstanceStatus | None = None) -> Instance:
        check_transition(instance.state, new, what=f"instance {instance.name}")
        status = status or InstanceStatus(
            observed=instance.status.observed, message=why, observed_at=self._clock.now(),
            observed_generation=instance.status.observed_generation)
        updated = self._store.update_instance(instance.id, generation=instance.generation,
                                              state=new, spec=spec, status=status)
        log.info("instance %d (%s): %s -> %s: %s", instance.id, instance.name,
                 instance.state, new, why)
        self._event(updated, f"{instance.state} -> {new}: {why}")
        keys = [PENDING]
        if updated.spec.host:
            keys.append(host_key(updated.spec.host))
        self._notifier.bump(*keys)
        return updated

    def _event(self, instance: Instance, message: str) -> None:
        self._store.add_event(message, instance_id=instance.id, host=instance.spec.host)

