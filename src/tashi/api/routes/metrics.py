"""/metrics: the manager's Prometheus metrics (and, under ``tashi up``, its agent's).

Read by an admin's token or by the scrape token (``TASHI_METRICS_TOKEN``), a
credential that opens this route and nothing else: a Prometheus server holds it, not an
admin's powers. The figures name hosts (and, under ``tashi up``, its agent's instances: ids and
names), which only admins see elsewhere; never a token, a password or user-data.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Core, principal
from tashi.api.schemas import ERROR_RESPONSES
from tashi.identity.access import require_admin

_bearer = HTTPBearer(auto_error=False, description="the scrape token or an admin's token")


async def metrics_reader(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The scrape token, or an admin (401 without a known token, 403 for others)."""
    scrape: SecretStr | None = request.app.state.metrics_token
    if scrape is not None and creds is not None and hmac.compare_digest(
            creds.credentials.encode(), scrape.get_secret_value().encode()):
        return
    require_admin(await principal(request, creds))


router = APIRouter(tags=["metrics"], responses=ERROR_RESPONSES)


@router.get("/metrics", dependencies=[Depends(metrics_reader)], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}},
                             "description": "Prometheus text format 0.0.4"}})
async def metrics(core: Core) -> Response:
    """The metrics in Prometheus' text format (what the store holds is read now)."""
    body = await run_in_threadpool(generate_latest, core.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
