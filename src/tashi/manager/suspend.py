"""Suspend and resume, as the manager sees them: what a host's report of a saved state,
a failed save or a failed restore changes.

A suspend is asked in the spec (power ``suspended``); the bound host's agent saves the
VM to the suspend directory (shared by the hosts) and reports it ``suspended``. Then
the instance leaves its host (its claim freed): Suspended, bound to no host, its
status saying its state is saved. A resume asks power ``running`` again: the scheduler
places it (Resuming), the new host's agent starts it from the saved state, and the
first report of it running clears ``saved`` (the agent removed the state by then).

Nothing is lost on failure: a save that fails leaves the VM running where it was (the
wanted power goes back to what the VM is, the reason in its status); a restore that
fails leaves the instance Suspended, unbound, with its saved state and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from tashi.common.clock import Clock
from tashi.domain.derive import Observed
from tashi.domain.models import Instance, InstanceStatus
from tashi.domain.states import Power
from tashi.manager.instances import InstanceService

log = logging.getLogger(__name__)


class SavedStates:
    def __init__(self, clock: Clock, instances: InstanceService) -> None:
        self._clock = clock
        self._instances = instances

    def suspended(self, instance: Instance, status: InstanceStatus) -> None:
        """Its state is saved: it leaves its host, which frees its claim (and when it was
        suspended to leave its host, it is resumed at once, wherever the scheduler
        places it)."""
        host = instance.spec.host
        why = f"suspended on host {host}: its state saved in the suspend directory"
        if instance.spec.relocating:
            self._unbind(instance, status, f"{why}; resumed elsewhere (it was moved off "
                         f"host {host})", Power.RUNNING)
            return
        self._unbind(instance, status, why, Power.SUSPENDED)

    def suspend_failed(self, instance: Instance, status: InstanceStatus, reason: str,
                       observed: Observed) -> None:
        """The save failed and the VM runs on: the wanted power goes back to what it is,
        so the agent does not try again until the user asks."""
        power = Power.PAUSED if observed is Observed.PAUSED else Power.RUNNING
        host = instance.spec.host
        log.warning("instance %d (%s): suspend failed on host %s: %s", instance.id,
                    instance.name, host, reason)
        why = f"suspend failed on host {host}: {reason}"
        self._instances.change_spec(
            instance, replace(instance.spec, power=power, relocating=False), f"{why}; it runs on",
            status=replace(status, message=why, last_failure=why), actor=f"agent of host {host}")

    def resume_failed(self, instance: Instance, status: InstanceStatus, reason: str) -> None:
        """The restore failed: Suspended again, its saved state kept (a later resume
        tries again, wherever the scheduler places it)."""
        host = instance.spec.host
        log.warning("instance %d (%s): resume failed on host %s: %s", instance.id,
                    instance.name, host, reason)
        why = f"resume failed on host {host}, still suspended: {reason}"
        self._unbind(instance, replace(status, last_failure=why), why, Power.SUSPENDED)

    def _unbind(self, instance: Instance, status: InstanceStatus, why: str,
                power: Power) -> None:
        host = instance.spec.host
        off_host = replace(status, message=why, observed_at=self._clock.now(), observed="",
                           ran=False, ended=False, saved=True, progress=None)
        spec = replace(instance.spec, host=None, power=power, relocating=False)
        if instance.spec.relocating:  # anywhere but the host it left
            spec = replace(spec, allow_elsewhere=spec.allow_elsewhere or spec.target_host
                           is not None)
        self._instances.change_spec(instance, spec, why, status=off_host,
                                    actor=f"agent of host {host}")
