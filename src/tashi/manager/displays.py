"""A running VM's display, asked of its host's agent: VNC servers and screenshots.

The manager never calls an agent. A request is counted in the instance's display
record (:meth:`~tashi.store.base.Store.ask_vnc`, ``ask_screenshot``) and its host's
watch is woken; the agent finds it in its desired state
(:attr:`~tashi.domain.desired.DesiredInstance.display`), carries it out and posts the
answer with the request's number (:meth:`DisplayService.vnc_answered`,
:meth:`DisplayService.screenshot_taken`), which wakes the caller waiting on
``display:<id>``. The caller waits at most :data:`ANSWER_WAIT_S`.

A VNC password is made here, fresh for each request, handed to the agent in the
desired record (the agent's channel is authenticated) and to this request's caller
in its answer; it is blanked from the store once the agent has answered, and it is
never logged, put in an event, or shown by any other call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tashi.common.hostpaths import without_host_paths
from tashi.domain.capabilities import Ability
from tashi.domain.displays import (
    Display,
    DisplayAction,
    Screenshot,
    VncSession,
    check_display_action,
    new_password,
    png_size,
)
from tashi.domain.errors import Conflict, DriverError, InvalidTransition, Unavailable
from tashi.domain.models import Instance, Principal
from tashi.manager.instances import InstanceService
from tashi.manager.notifier import Notifier, host_key
from tashi.store.base import Store

log = logging.getLogger(__name__)
ANSWER_WAIT_S = 30.0  # how long a caller waits for the agent's answer


def display_key(instance_id: int) -> str:
    return f"display:{instance_id}"


class DisplayService:
    def __init__(self, store: Store, notifier: Notifier, instances: InstanceService, *,
                 wait_s: float = ANSWER_WAIT_S) -> None:
        self._store = store
        self._notifier = notifier
        self._instances = instances
        self._wait_s = wait_s

    # --- what users ask ------------------------------------------------------------------
    async def open_vnc(self, principal: Principal, ref: str) -> VncSession:
        """Start (or keep) the VNC server of the running VM ``ref`` with a fresh password;
        where it listens and the password, once its host's agent has done it."""
        inst, host = await self._target(principal, ref, DisplayAction.VNC)
        password = new_password()
        since = self._notifier.revision(display_key(inst.id))
        number = await asyncio.to_thread(self._store.ask_vnc, inst.id, open_it=True,
                                         password=password)
        log.info("instance %d (%s): VNC request %d (open) by %s", inst.id, inst.name, number,
                 principal.label)
        try:
            d = await self._await_vnc(inst, host, number, since)
        except Unavailable:  # no answer: withdrawn (a server nobody got the password of)
            await asyncio.to_thread(self._store.ask_vnc, inst.id, open_it=False, password="")
            self._notifier.bump(host_key(host))
            raise
        return VncSession(inst.id, inst.name, d.vnc_host, d.vnc_port, password)

    async def close_vnc(self, principal: Principal, ref: str) -> None:
        """End the VNC server of VM ``ref`` (a no-op for its host if none runs)."""
        inst, host = await self._target(principal, ref, DisplayAction.VNC_STOP)
        since = self._notifier.revision(display_key(inst.id))
        number = await asyncio.to_thread(self._store.ask_vnc, inst.id, open_it=False,
                                         password="")
        log.info("instance %d (%s): VNC request %d (close) by %s", inst.id, inst.name,
                 number, principal.label)
        await self._await_vnc(inst, host, number, since)

    async def screenshot(self, principal: Principal, ref: str) -> Screenshot:
        """A screenshot of the running VM ``ref``'s display, taken after this call."""
        inst, host = await self._target(principal, ref, DisplayAction.SCREENSHOT)
        since = self._notifier.revision(display_key(inst.id))
        number = await asyncio.to_thread(self._store.ask_screenshot, inst.id)
        d = await self._await(inst, host, since, f"screenshot {number}",
                              lambda d: d.shots_done >= number)
        shot = await asyncio.to_thread(self._store.get_screenshot, inst.id)
        if d.shots_done == number and d.shot_error:
            raise DriverError(f"cannot take a screenshot of {inst.name}: host {host}: "
                              f"{d.shot_error}")
        if shot is None or shot.number < number:
            raise Conflict(f"cannot take a screenshot of {inst.name}: host {host} answered "
                           "without one; ask again")
        return shot

    async def _target(self, principal: Principal, ref: str,
                      action: DisplayAction) -> tuple[Instance, str]:
        """The instance (if the caller may see it), checked for ``action``, and its host."""
        inst = await asyncio.to_thread(self._instances.get, principal, ref)
        check_display_action(action, inst.name, inst.state)
        host = str(inst.spec.host)
        caps = (await asyncio.to_thread(self._store.get_host, host)).capabilities
        if caps is None or Ability.VNC not in caps.abilities:
            driver = "its agent never said what it can do" if caps is None else (
                f"its {caps.facts.hypervisor} driver has no display")
            raise InvalidTransition(f"cannot {action} {inst.name}: host {host} cannot "
                                    f"({driver})")
        return inst, host

    async def _await_vnc(self, inst: Instance, host: str, number: int, since: str) -> Display:
        d = await self._await(inst, host, since, f"VNC request {number}",
                              lambda d: d.vnc_done >= number)
        if d.vnc_done > number:
            raise Conflict(f"VNC of {inst.name}: asked again meanwhile (request "
                           f"{d.vnc_done}), which replaced this one; ask again")
        if d.vnc_error:
            raise DriverError(f"cannot vnc {inst.name}: host {host}: {d.vnc_error}")
        return d

    async def _await(self, inst: Instance, host: str, since: str, what: str,
                     done: Callable[[Display], bool]) -> Display:
        """The display record once ``done`` says so: woken by the agent's answer (see
        :meth:`vnc_answered`), at most :attr:`_wait_s` after the request (which was
        written: its host's watch is woken now)."""
        self._notifier.bump(host_key(host))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        key = display_key(inst.id)
        while True:
            d = await asyncio.to_thread(self._store.get_display, inst.id)
            if done(d):
                return d
            left = deadline - loop.time()
            if left <= 0 or self._notifier.closed:
                raise Unavailable(f"instance {inst.name}: host {host} did not answer {what} "
                                  f"within {self._wait_s:g} s")
            since = await self._notifier.wait(key, since, left)

    # --- what agents answer --------------------------------------------------------------
    def vnc_answered(self, host: str, instance_id: int, number: int, *, vnc_host: str,
                     port: int, error: str) -> bool:
        """Keep the agent of ``host``'s answer to VNC request ``number``; whether it was
        new (False: a repeat). Conflict for an instance not bound to ``host``."""
        inst = self._bound(host, instance_id)
        error = self._shown(inst, host, error)
        kept = self._store.answer_vnc(instance_id, number, host=vnc_host, port=port,
                                      error=error)
        if kept:
            how = f"failed: {error}" if error else (
                f"listening on {vnc_host}:{port}" if port else "closed")
            log.info("instance %d (%s): VNC request %d on host %s %s", inst.id, inst.name,
                     number, host, how)
        self._notifier.bump(display_key(instance_id))
        return kept

    def screenshot_taken(self, host: str, instance_id: int, number: int, png: bytes | None,
                         error: str) -> bool:
        """Keep the agent of ``host``'s answer to screenshot request ``number`` (a PNG, or
        why there is none); InvalidInput for what is no PNG, or one too big."""
        inst = self._bound(host, instance_id)
        shot = None
        if png is not None:
            width, height = png_size(png, f"the screenshot of instance {inst.id} "
                                          f"({inst.name})")
            shot = (png, width, height)
        elif not error:
            error = "its agent sent neither an image nor a reason"
        kept = self._store.answer_screenshot(instance_id, number, png=shot,
                                             error=self._shown(inst, host, error))
        self._notifier.bump(display_key(instance_id))
        return kept

    def _bound(self, host: str, instance_id: int) -> Instance:
        inst = self._store.get_instance(instance_id)
        if inst.spec.host != host:
            raise Conflict(f"instance {instance_id} ({inst.name}) is not bound to host "
                           f"{host}: its display is not this host's to answer for")
        return inst

    @staticmethod
    def _shown(inst: Instance, host: str, error: str) -> str:
        """``error`` as users see it: without the host's paths (the log has them)."""
        shown = without_host_paths(error)[:2000]
        if shown != error:
            log.info("instance %d (%s): host %s reports a display failure: %s", inst.id,
                     inst.name, host, error)
        return shown
