"""The agent process of one host, from its settings: its credential (given, saved, or
obtained with the join token), its driver, its client of the manager, and its loops
(:class:`~tashi.agent.service.Agent`). Started by ``tashi-agent``
(:mod:`tashi.cmd.agent`)."""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.agent.drivers.registry import make_driver
from tashi.agent.metrics import MetricsServer
from tashi.agent.service import (
    Agent,
    load_credential,
    refusal,
    save_credential,
    until_accepted,
)
from tashi.agent.settings import AgentSettings
from tashi.client import TashiClient
from tashi.common.files import private_dir
from tashi.domain.errors import InvalidInput, TashiError, Unauthenticated

log = logging.getLogger(__name__)


async def obtain_credential(settings: AgentSettings) -> str:
    """This host's credential: given, saved from an earlier join, or joined for now.

    The join is retried while the manager cannot be reached; a refused join token
    raises (Forbidden), said for a person."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    path = _credential_path(settings)
    saved = load_credential(path)
    if saved:
        return saved
    if settings.join_token is None:
        raise InvalidInput(
            f"host {settings.host}: no credential: set TASHI_AGENT_TOKEN (from `tashi host "
            "add`) or TASHI_AGENT_JOIN_TOKEN (when the manager allows auto registration)")
    join_token = settings.join_token.get_secret_value()
    manager = f"the manager at {settings.manager_url}"
    async with TashiClient(settings.manager_url, verify=_verify(settings)) as anonymous:
        try:
            token = await until_accepted(lambda: anonymous.join(settings.host, join_token),
                                         host=settings.host, what="join request",
                                         manager=manager, probe=anonymous)
        except TashiError as exc:
            raise refusal(exc, settings.host, "join", manager) from exc
    save_credential(path, token)
    log.info("host %s: joined the cluster; credential saved in %s", settings.host, path)
    return token


def _verify(settings: AgentSettings) -> bool | str:
    return str(settings.ca) if settings.ca else True


def _credential_path(settings: AgentSettings) -> Path:
    return settings.state_dir / "credential"


def _credential_origin(settings: AgentSettings) -> str:
    if settings.token is not None:
        return "given in TASHI_AGENT_TOKEN"
    return (f"saved in {_credential_path(settings)}; an admin issues host "
            f"{settings.host} a new one")


async def run_agent(settings: AgentSettings) -> None:
    private_dir(settings.state_dir)  # 0700: credential, VMs' disks and logs
    token = await obtain_credential(settings)
    driver = make_driver(settings)
    async with TashiClient(settings.manager_url, token, verify=_verify(settings)) as client:
        agent = Agent(client, settings.host, driver, settings.image_dir,
                      suspend_dir=settings.suspend_dir,
                      heartbeat_interval_s=settings.heartbeat_interval_s,
                      poll_wait_s=settings.poll_wait_s, resync_s=settings.resync_s,
                      report_every_s=settings.report_every_s,
                      manager_url=settings.manager_url,
                      usage_every_s=settings.usage_every_s,
                      usage_spool=settings.state_dir / "usage-spool",
                      cpu_ratio=settings.cpu_ratio, state_dir=settings.state_dir)
        metrics = None if not settings.metrics_listen else MetricsServer(
            settings.metrics_listen, agent.metrics.registry, host=settings.host)
        try:
            await agent.run()
        except Unauthenticated as exc:
            raise Unauthenticated(f"{exc.message}; the credential was "
                                  f"{_credential_origin(settings)}") from exc
        finally:
            if metrics is not None:
                metrics.close()
