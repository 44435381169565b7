"""Waiting for an instance to reach a state, or to be gone, by polling the manager."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from tashi.api.schemas import InstanceOut
from tashi.client import TashiClient
from tashi.domain.errors import NotFound, TashiError
from tashi.domain.states import InstanceState

POLL_S = 1.0
DEFAULT_TIMEOUT_S = 300.0


async def wait_for_state(client: TashiClient, ref: str | int, want: InstanceState, *,
                         timeout_s: float,
                         fail_on: Collection[InstanceState] = (),
                         through_retries: bool = False,
                         seen: Callable[[InstanceOut], None] | None = None,
                         poll_s: float = POLL_S) -> InstanceOut:
    """The instance once it is ``want``; an error naming its message if it reaches a
    state of ``fail_on`` instead, or if ``timeout_s`` passes first. With
    ``through_retries``, a Held instance whose start is to be retried (``retry_at``
    set) is waited through rather than failed on. ``seen`` is called with each look."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        inst = await client.get_instance(ref)
        if seen is not None:
            seen(inst)
        if inst.state is want:
            return inst
        retrying = through_retries and inst.state is InstanceState.HELD \
            and inst.retry_at is not None
        if inst.state in fail_on and not retrying:
            raise TashiError(f"instance {inst.name} is {inst.state}: "
                             f"{inst.last_failure or inst.message}")
        if asyncio.get_running_loop().time() >= deadline:
            raise TashiError(f"instance {inst.name}: still {inst.state} after {timeout_s:g} s "
                             f"(waiting for {want}): {inst.message}")
        await asyncio.sleep(poll_s)


async def wait_rebooted(client: TashiClient, ref: str | int, number: int, *,
                        timeout_s: float) -> InstanceOut:
    """The instance once its host has carried out reboot ``number``; an error if it
    leaves Running first, or if ``timeout_s`` passes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        inst = await client.get_instance(ref)
        if inst.reboots_done >= number:
            return inst
        if inst.state is not InstanceState.RUNNING:
            raise TashiError(f"instance {inst.name} is {inst.state}: {inst.message}")
        if asyncio.get_running_loop().time() >= deadline:
            raise TashiError(f"instance {inst.name}: reboot {number} not done after "
                             f"{timeout_s:g} s")
        await asyncio.sleep(POLL_S)


async def wait_gone(client: TashiClient, ref: str | int, *, timeout_s: float) -> None:
    """Return once the manager no longer knows the instance."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            inst = await client.get_instance(ref)
        except NotFound:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise TashiError(f"instance {inst.name}: still {inst.state} after {timeout_s:g} s "
                             f"(waiting for it to be gone): {inst.message}")
        await asyncio.sleep(POLL_S)
