"""The instance lifecycle, applied to the store: create, shutdown, pause and unpause,
destroy, bind.

Every state change goes through :func:`tashi.domain.states.check_transition`
and leaves an event naming the instance, the old and new state and why.
Binding is the store's batch (:meth:`~tashi.store.base.Store.bind_instances`),
which checks the host's room inside its own transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from tashi.common.clock import Clock
from tashi.domain import imagerefs
from tashi.domain.capabilities import Ability
from tashi.domain.derive import awaits_placement
from tashi.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    StaleGeneration,
)
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.models import (
    DiskSpec,
    Image,
    Instance,
    InstanceSpec,
    InstanceStatus,
    NewInstance,
    NicSpec,
    Principal,
)
from tashi.domain.names import check_name
from tashi.domain.needs import Needs, never_met
from tashi.domain.operations import Operation, ability_for, check_operation
from tashi.domain.resources import MAX_MEMORY_MIB, check_request
from tashi.domain.seeds import check_seed
from tashi.domain.states import HOLDS_RESOURCES, InstanceState, Power, check_transition
from tashi.identity.access import check_visible, require_admin, require_user
from tashi.manager.disks import DiskRequest, disk_specs
from tashi.manager.listing import EVERY_INSTANCE, InstanceQuery
from tashi.manager.metrics import BindingMetrics
from tashi.manager.notifier import PENDING, Notifier, host_key
from tashi.store.base import Idempotency, NewEvent, Store
from tashi.store.binding import Binding, BindResult

log = logging.getLogger(__name__)
MAX_INSTANCE_ID = 2**63 - 1
T = TypeVar("T")
ACTION_ATTEMPTS = 5  # reads of an instance a user's action makes while others write it
S = InstanceState


def new_mac() -> str:
    """A random address in QEMU's locally administered 52:54:00 range."""
    tail = secrets.token_bytes(3)
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


@dataclass(frozen=True, slots=True)
class InstanceRequest:
    """What a user asks for: ``count`` instances (named ``name-1`` ... ``name-N`` when
    more than one), and where they should run."""

    name: str
    image: str
    cores: int = 1
    memory_mib: int = 128
    persistent: bool = False
    networks: tuple[str, ...] = ("default",)
    nic_model: str = "virtio"
    shutdown_timeout_s: int = 60
    disk_gib: int = 0  # one scratch disk of that size (the API's older shorthand)
    disks: tuple[DiskRequest, ...] = ()  # beyond the boot disk (see manager.disks)
    host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = None  # with anti_affinity and no group: the name is the group
    anti_affinity: bool = False
    ha: bool = False  # restarted elsewhere when its host fails (see domain.ha)
    count: int = 1
    hostname: str | None = None  # a cloud-init seed (see domain.seeds): its local-hostname,
    user_data: str = ""  # its user-data,
    ssh_keys: tuple[str, ...] = ()  # the public keys it installs

    def names(self) -> list[str]:
        if self.count == 1:
            return [check_name("instance", self.name)]
        return [check_name("instance", f"{self.name}-{i}") for i in range(1, self.count + 1)]


class InstanceService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier, *,
                 metrics: BindingMetrics | None = None) -> None:
        """``metrics``: where bindings applied and refused are counted."""
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._metrics = metrics

    # --- user actions ---------------------------------------------------------------

    def create(self, principal: Principal, req: InstanceRequest, *,
               idempotency_key: str | None = None) -> list[Instance]:
        """Create ``req.count`` alike instances, all or none (a name taken: none). With
        ``idempotency_key``, the same request again (its answer lost) returns what the
        first one made; the key with another request is a Conflict."""
        user = require_user(principal)
        names = req.names()
        check_request(req.cores, req.memory_mib)
        if req.persistent and req.count > 1:
            raise InvalidInput("a persistent image is written by one instance only: "
                               "drop the count or the persistence")
        image = self._image_for(principal, req)
        networks = [self._check_network(n) for n in req.networks]
        self._check_runnable(req.nic_model, networks)
        boot = DiskSpec(image=image.name, persistent=req.persistent)
        disks = disk_specs(boot, req.disks, req.disk_gib,
                           lambda ref, persistent: self._disk_image(principal, req, ref,
                                                                    persistent))
        spec = self._placement(req, InstanceSpec(
            cores=req.cores, memory_mib=req.memory_mib, disks=disks, nics=(),
            shutdown_timeout_s=req.shutdown_timeout_s))
        news = [NewInstance(name=n, owner=user.name, spec=replace(
            spec, nics=tuple(NicSpec(network=net, mac=new_mac(), model=req.nic_model)
                             for net in networks),
            seed=check_seed(req.hostname, req.user_data, req.ssh_keys, n)))
            for n in names]
        asked = None if idempotency_key is None else Idempotency(
            user.name, idempotency_key, hashlib.sha256(repr(req).encode()).hexdigest())
        created = self._store.create_instances(news, event=_created(user.name, spec),
                                               idempotency=asked)
        log.info("instances %s: created by %s (%d)", _span(names), user.name, len(created))
        self._notifier.bump(PENDING)
        return created

    def _placement(self, req: InstanceRequest, spec: InstanceSpec) -> InstanceSpec:
        """``spec`` with the placement ``req`` asks for, checked."""
        if req.allow_elsewhere and req.host is None:
            raise InvalidInput("allow-elsewhere goes with a target host")
        if req.host is not None:
            try:
                self._store.get_host(check_name("host", req.host))
            except NotFound:
                raise InvalidInput(f"unknown host {req.host!r}") from None
        group = req.group
        if group is not None:
            check_name("group", group)
        elif req.anti_affinity:
            group = req.name
        return replace(spec, target_host=req.host,
                       allow_elsewhere=req.allow_elsewhere, group=group,
                       anti_affinity=req.anti_affinity, ha=req.ha)

    def _image_for(self, principal: Principal, req: InstanceRequest) -> Image:
        """The image ``req.image`` names for the caller (see :mod:`tashi.domain.imagerefs`),
        if ``req`` may boot it: enough memory, and a persistent disk only on one's own."""
        try:
            record = imagerefs.resolve(principal, req.image, self._store.list_images())
        except NotFound:
            raise InvalidInput(f"unknown image {req.image!r} (see: tashi image list)") from None
        needs = record.min_memory_mib
        if req.memory_mib < needs:
            raise InvalidInput(f"image {req.image!r} needs at least {needs} MiB of memory to "
                               f"boot (its min_memory_mib), not {req.memory_mib}: ask for "
                               f"--memory {needs} or more")
        user = require_user(principal)
        if req.persistent and record.owner != user.name and not user.is_admin:
            raise InvalidInput(f"image {req.image!r} belongs to {record.owner}: only its "
                               "owner may write to it (drop --persistent)")
        # who else uses the image is checked by the store, in the creating transaction
        return record

    def _disk_image(self, principal: Principal, req: InstanceRequest, ref: str,
                    persistent: bool) -> str:
        """The key of the image an extra disk is made from, checked as the boot disk's."""
        if persistent and req.count > 1:
            raise InvalidInput(f"image {ref!r}: a persistent image is written by one "
                               "instance only: drop the count or the persistence")
        return self._image_for(principal, replace(req, image=ref, persistent=persistent,
                                                  memory_mib=MAX_MEMORY_MIB)).name

    def _check_network(self, network: str) -> str:
        try:
            return self._store.get_network(check_name("network", network)).name
        except NotFound:
            raise InvalidInput(f"unknown network {network!r}") from None

    def _check_runnable(self, nic_model: str, networks: Sequence[str]) -> None:
        """Refuse (InvalidInput) what no registered host could ever run: a NIC model or
        network kind no host's drivers offer (:func:`tashi.domain.needs.never_met`)."""
        kinds = {n.name: n.kind.value for n in self._store.list_networks()}
        needs = Needs(nic_models=frozenset({nic_model}),
                      network_kinds=frozenset(kinds[n] for n in networks if n in kinds))
        why = never_met(needs, self._store.host_capabilities())
        if why is not None:
            raise InvalidInput(f"no host could ever run it: {why}")

    def get(self, principal: Principal, ref: str) -> Instance:
        """An instance by id or by name, if the caller may see it."""
        user = require_user(principal)
        if ref.isascii() and ref.isdigit():
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

    def list_visible(self, principal: Principal,
                     query: InstanceQuery = EVERY_INSTANCE) -> list[Instance]:
        """The instances meeting ``query`` the caller may see (users: their own).

        A user naming another ``owner`` is refused (403), as usage reports refuse it: an
        empty list would read as "that user has none", and the refusal is the same
        whether that user exists or not, so it tells nothing about others."""
        user = require_user(principal)
        owner = query.owner
        if not user.is_admin:
            if owner not in (None, user.name):
                raise Forbidden(f"user {user.name} may list only its own instances, "
                                f"not {owner}'s")
            owner = user.name
        return self._store.list_instances(
            owner=owner, host=query.host, states=query.states, name_prefix=query.name_prefix,
            network=query.network, after=query.after, limit=query.limit)

    def console(self, principal: Principal, ref: str) -> str:
        """The console tail its host's agent last sent ('' if none), if the caller may
        see the instance."""
        return self._store.get_console(self.get(principal, ref).id)

    def _again(self, action: Callable[[], T]) -> T:
        """``action()``, read and done again when a write came between its read and its
        own (an agent's report, a binding): a user names no generation, so what they
        asked applies to the instance as it is now."""
        for _ in range(ACTION_ATTEMPTS - 1):
            with contextlib.suppress(StaleGeneration):
                return action()
        return action()

    def shutdown(self, principal: Principal, ref: str) -> Instance:
        """Graceful shutdown; one already asked (ShuttingDown, Exited) is answered with
        the instance as it is, so a retried request succeeds."""
        return self._again(lambda: self._shutdown(principal, ref))

    def _shutdown(self, principal: Principal, ref: str) -> Instance:
        instance = self.get(principal, ref)
        if instance.spec.power is Power.STOPPED:
            return instance
        check_transition(instance.state, S.SHUTTING_DOWN, what=f"instance {instance.name}")
        return self.change_spec(instance, replace(instance.spec, power=Power.STOPPED),
                                f"graceful shutdown asked by {principal.label}",
                                actor=principal.label)

    def operate(self, principal: Principal, ref: str, op: Operation) -> Instance:
        """Ask for ``op`` (pause, unpause): the wanted power state changes now, the
        bound host's agent converges to it. InvalidTransition in a state ``op`` does not
        start from, or on a host whose driver cannot do it."""
        return self._again(lambda: self._operate(principal, ref, op))

    def _operate(self, principal: Principal, ref: str, op: Operation) -> Instance:
        instance = self.get(principal, ref)
        power = check_operation(op, instance.name, instance.state)
        if op is Operation.RESUME:
            self._check_resumable(instance)
        else:
            self._check_host_can(instance, op)
        why = f"{op} asked by {principal.label}"
        status = replace(instance.status, message=why, observed_at=self._clock.now(),
                         last_failure="" if op in _SAVING else instance.status.last_failure)
        return self.change_spec(instance, replace(instance.spec, power=power), why,
                                status=status, actor=principal.label)

    def relocate(self, instance: Instance, asked_by: str, *, resume: bool) -> Instance:
        """Suspend ``instance`` to take it off its host (an evacuation, for those that
        cannot move live): with ``resume``, it is resumed elsewhere once saved, else it
        stays Suspended. InvalidTransition as :meth:`operate` for a suspend."""
        power = check_operation(Operation.SUSPEND, instance.name, instance.state)
        self._check_host_can(instance, Operation.SUSPEND)
        then = "resumed elsewhere once saved" if resume else "left suspended"
        why = f"suspend asked by {asked_by} ({then})"
        status = replace(instance.status, message=why, observed_at=self._clock.now(),
                         last_failure="")
        return self.change_spec(instance, replace(instance.spec, power=power,
                                                  relocating=resume),
                                why, status=status, actor=asked_by)

    def reboot(self, principal: Principal, ref: str, *, hard: bool) -> Instance:
        """Ask the bound host's agent to reboot the VM (it stays Running): the request is
        counted in the spec (``reboots``), the agent carries out those it has not."""
        return self._again(lambda: self._reboot(principal, ref, hard))

    def _reboot(self, principal: Principal, ref: str, hard: bool) -> Instance:
        instance = self.get(principal, ref)
        check_operation(Operation.REBOOT, instance.name, instance.state)
        self._check_host_can(instance, Operation.REBOOT)
        number = instance.spec.reboots + 1
        how = "hard: a reset" if hard else "soft: the guest's own reboot"
        why = f"reboot {number} ({how}) asked by {principal.label}"
        updated = self.change_spec(instance, replace(instance.spec, reboots=number,
                                                     reboot_hard=hard), why,
                                   actor=principal.label)
        self._event(updated, why, EventKind.INSTANCE_ASKED, principal.label, old=updated.state)
        log.info("instance %d (%s): %s", instance.id, instance.name, why)
        return updated

    def _check_resumable(self, instance: Instance) -> None:
        """A resume is placed by the scheduler, on a host that can restore (see
        :func:`tashi.scheduler.records.placement_request`): its old host must have let
        it go, and some host must be able to."""
        if instance.spec.host is not None:
            raise InvalidTransition(f"cannot resume {instance.name}: host "
                                    f"{instance.spec.host} has not released it yet")
        if not any(c is not None and Ability.SUSPEND in c.abilities
                   for c in self._store.host_capabilities()):
            raise InvalidTransition(f"cannot resume {instance.name}: no host can restore a "
                                    "saved VM (none has a driver that suspends)")

    def _check_host_can(self, instance: Instance, op: Operation) -> None:
        host = str(instance.spec.host)
        caps = self._store.get_host(host).capabilities
        if caps is None or ability_for(op) not in caps.abilities:
            driver = "its agent never said what it can do" if caps is None else (
                f"its {caps.facts.hypervisor} driver cannot {op}")
            raise InvalidTransition(f"cannot {op} {instance.name}: host {host} cannot "
                                    f"({driver})")

    def destroy(self, principal: Principal, ref: str) -> Instance | None:
        """Destroy: at once if no host holds it, else through Destroying (one already
        Destroying is answered as it is: a retried request succeeds). The caller names
        no generation (a destroy is wanted whatever happened meanwhile)."""
        return self._again(lambda: self._destroy(principal, ref))

    def _destroy(self, principal: Principal, ref: str) -> Instance | None:
        instance = self.get(principal, ref)
        if instance.spec.power is Power.DELETED:
            return instance
        if instance.spec.host is None:
            check_transition(instance.state, S.DESTROYING, what=f"instance {instance.name}")
            self._store.delete_instance(instance.id, generation=instance.generation)
            self._event(instance, f"destroyed by {principal.label} (it had no host)",
                        EventKind.INSTANCE_DELETED, principal.label, old=instance.state)
            self._notifier.bump(PENDING)
            return None
        check_transition(instance.state, S.DESTROYING, what=f"instance {instance.name}")
        return self.change_spec(instance, replace(instance.spec, power=Power.DELETED),
                                f"destroy asked by {principal.label}", actor=principal.label)

    def force_destroy(self, principal: Principal, ref: str) -> Instance:
        """Remove the instance's record at once, in any state (admins), when no agent
        will ever report its VM killed: its host is silent or gone (Conflict while the
        host heartbeats: a plain destroy does it then). The record it was."""
        require_admin(principal)
        instance = self.get(principal, ref)
        host = instance.spec.host
        why = "it had no host" if host is None else self._host_gone(host, instance)
        self._store.delete_instance(instance.id, generation=instance.generation)
        self._event(instance, f"{instance.state} -> deleted: forced by {principal.label} "
                    f"({why})", EventKind.INSTANCE_DELETED, principal.label,
                    old=instance.state)
        log.warning("instance %d (%s): record removed by force by %s (%s)",
                    instance.id, instance.name, principal.label, why)
        self._notifier.bump(PENDING, *([host_key(host)] if host is not None else []))
        return instance

    def _host_gone(self, host: str, instance: Instance) -> str:
        """Why ``host`` can no longer report ``instance``'s VM killed; Conflict while
        it heartbeats (then its agent destroys the VM: no force is needed)."""
        try:
            record = self._store.get_host(host)
        except NotFound:
            return f"host {host} is gone"
        if not record.silent:
            raise Conflict(f"instance {instance.name}: host {host} is up; its agent "
                           "destroys the VM (tashi vm destroy without --force). --force is "
                           "for an instance whose host is silent or gone")
        return f"host {host} is silent; if it returns, its agent destroys the VM"

    # --- the scheduler's action ---------------------------------------------------------

    def bind(self, instance_id: int, host_name: str, generation: int) -> Instance:
        """Bind one Pending instance; the error of a refused binding is raised."""
        (result,) = self.bind_many([Binding(instance_id, host_name, generation)])
        if result.instance is None:
            raise result.error or Conflict(f"instance {instance_id}: not bound")
        return result.instance

    def bind_many(self, bindings: Sequence[Binding]) -> list[BindResult]:
        """Apply a scheduler's bindings; each is bound or refused (nothing changed).

        Wakes the agents of the hosts bound to, not the schedulers: a binding makes no
        room anywhere, and a scheduler whose binding was refused looks again at once."""
        results = self._store.bind_instances(bindings)
        if self._metrics is not None:
            self._metrics.observe(results, self._clock.now())
        keys: set[str] = set()
        for b, r in zip(bindings, results, strict=True):
            if r.instance is not None:
                log.debug("instance %d (%s): %s -> %s: placed on host %s (%s)",
                          r.instance_id, r.instance.name, S.PENDING, r.instance.state,
                          b.host, b.why)
                keys.add(host_key(b.host))
        only = results[0].instance if len(results) == 1 else None
        if only is not None:
            log.info("instance %d (%s): placed on host %s (%s)", only.id, only.name,
                     bindings[0].host, bindings[0].why)
        elif keys:  # a batch: one line (each binding is an event, and at DEBUG)
            bound = sum(r.instance is not None for r in results)
            log.info("%d of %d instances placed, on %d hosts (each is an instance.placed "
                     "event)", bound, len(bindings), len(keys))
        self._notifier.bump(*keys)
        return results

    def note_unplaced_many(self, notes: Sequence[tuple[int, str]]) -> None:
        """:meth:`note_unplaced` for each ``(instance id, reason)``; gone ones skipped."""
        for instance_id, reason in notes:
            try:
                self.note_unplaced(instance_id, reason)
            except NotFound:
                continue

    def note_unplaced(self, instance_id: int, reason: str) -> None:
        """Keep the scheduler's reason for not placing a Pending instance."""
        instance = self._store.get_instance(instance_id)
        if instance.status.message != reason:
            self._store.set_instance_status(instance_id, replace(
                instance.status, message=reason, observed_at=self._clock.now()))

    # --- shared -------------------------------------------------------------------------

    def change_spec(self, instance: Instance, spec: InstanceSpec, why: str, *,
                    status: InstanceStatus | None = None, actor: str = "manager") -> Instance:
        """Write ``spec`` (an action's intent) read at ``instance``'s generation; the store
        derives the new state. A stale generation raises Conflict, nothing changed."""
        status = status or replace(instance.status, message=why, observed_at=self._clock.now())
        updated = self._store.update_instance(instance.id, generation=instance.generation,
                                              spec=spec, status=status)
        self.changed(instance, updated, why, actor=actor)
        return updated

    def changed(self, old: Instance, new: Instance, why: str, *,
                actor: str = "manager") -> None:
        """Log, record and announce ``old``'s change into ``new`` (a state change, or a
        change of what the scheduler or the bound host's agent must look at)."""
        self.changed_many([(old, new, why)], actor=actor)

    def changed_many(self, changes: Sequence[tuple[Instance, Instance, str]], *,
                     actor: str) -> None:
        """:meth:`changed` of each (before, after, why), their events in one
        transaction (an agent's report of many instances)."""
        events, keys = [], set()
        for old, new, why in changes:
            if old.state is not new.state:
                log.info("instance %d (%s): %s -> %s: %s", old.id, old.name, old.state,
                         new.state, why)
                events.append(_event_of(new, f"{old.state} -> {new.state}: {why}",
                                        EventKind.INSTANCE_STATE, actor, old=old.state))
            if _placement_changed(old, new):
                keys.add(PENDING)
            if old.spec != new.spec:  # what the bound host's agent is told changed
                keys |= {host_key(h) for h in {old.spec.host, new.spec.host} if h is not None}
        self._store.add_events(events)
        self._notifier.bump(*sorted(keys))

    def _event(self, instance: Instance, message: str, kind: EventKind, actor: str, *,
               old: InstanceState | None = None) -> None:
        """Record an event of ``instance`` (its state now, unless it is gone)."""
        self._store.add_events([_event_of(instance, message, kind, actor, old=old)])


_SAVING = (Operation.SUSPEND, Operation.RESUME)  # each clears the last one's failure


def _event_of(instance: Instance, message: str, kind: EventKind, actor: str, *,
              old: InstanceState | None = None) -> NewEvent:
    """An event of ``instance`` (its state now, unless it is gone)."""
    gone = kind is EventKind.INSTANCE_DELETED
    return NewEvent(message, instance.id, instance.spec.host, EventFacts(
        kind, actor, instance.owner, old, None if gone else instance.state,
        instance.spec.resources))


def _placement_changed(old: Instance, new: Instance) -> bool:
    """Whether the scheduler's picture changed: an instance became or stopped being
    Pending, or started or stopped holding resources (Activating -> Running did not)."""
    return (S.PENDING in (old.state, new.state) or old.spec.host != new.spec.host
            or awaits_placement(old.spec, old.status) != awaits_placement(new.spec, new.status)
            or (old.state in HOLDS_RESOURCES) != (new.state in HOLDS_RESOURCES))


def _created(user: str, spec: InstanceSpec) -> str:
    """The creation event: who, what, and where it should run."""
    disk = spec.disks[0]
    words = [f"created by {user}: {spec.cores} cores, {spec.memory_mib} MiB, "
             f"image {disk.image}{' (persistent)' if disk.persistent else ''}"]
    for d in spec.disks[1:]:
        words.append(f"{d.size_gib} GiB {'scratch' if d.scratch else 'blank'} disk" if d.empty
                     else f"disk of image {d.image}{' (persistent)' if d.persistent else ''}")
    if spec.target_host:
        elsewhere = " or elsewhere" if spec.allow_elsewhere else ""
        words.append(f"on host {spec.target_host}{elsewhere}")
    if spec.group:
        words.append(f"group {spec.group}{' (anti-affinity)' if spec.anti_affinity else ''}")
    if spec.ha:
        words.append("HA (restarted elsewhere if its host fails)")
    return ", ".join(words)


def _span(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
