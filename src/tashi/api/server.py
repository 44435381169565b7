"""The manager's HTTP server: its ASGI app served by uvicorn, HTTPS when given a
certificate."""

from __future__ import annotations

import socket

import uvicorn

from tashi.api.app import create_app
from tashi.domain.errors import InvalidInput
from tashi.manager.core import ManagerCore
from tashi.manager.leadership import Leadership
from tashi.manager.notifier import Notifier
from tashi.manager.settings import ManagerSettings


class ManagerServer(uvicorn.Server):
    """uvicorn, whose stop first answers every long-poll: the notifier is closed before
    the requests in flight are waited for, so agents and schedulers get their usual
    answer (and then find the manager gone), not a cancelled request (a 500, a
    CancelledError in the log) after the graceful-shutdown timeout."""

    notifier: Notifier | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.notifier is not None:
            self.notifier.close()
        await super().shutdown(sockets)


def make_server(settings: ManagerSettings, core: ManagerCore,
                server_class: type[ManagerServer] = ManagerServer) -> ManagerServer:
    """A server of ``core``'s API on ``settings``' address (not started); InvalidInput
    for half a TLS configuration."""
    core.accounting.grace_s = settings.usage_grace_s
    app = create_app(core, liveness_interval_s=settings.liveness_interval_s,
                     metrics_token=settings.metrics_token,
                     usage_interval_s=settings.usage_interval_s,
                     usage_close_every_s=settings.usage_close_every_s,
                     leadership=Leadership(core.store, settings.replica_id,
                                           lease_s=settings.leader_lease_s))
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise InvalidInput("give both TASHI_TLS_CERT and TASHI_TLS_KEY, or neither")
    config = uvicorn.Config(app, host=settings.listen, port=settings.port, log_config=None,
                            access_log=False, timeout_graceful_shutdown=2, lifespan="on",
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
                            h11_max_incomplete_event_size=64 * 1024)
    server = server_class(config)
    server.notifier = core.notifier
    return server
