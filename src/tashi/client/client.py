"""One typed async HTTP client for the manager's REST API.

Error answers are turned back into the error tree of :mod:`tashi.domain.errors`
(by their ``error`` code), so a caller catches ``NotFound`` whether it talks to
the manager in-process or across a network. A manager that cannot be reached
raises :class:`~tashi.domain.errors.Unavailable`.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from tashi.api import schemas as wire  # its submodules load when first used
from tashi.client.connection import checked_token, manager_urls, ssl_context, trusting_nothing
from tashi.client.failover import Failover
from tashi.client.paging import PAGE_SIZE, HostFilters, InstanceFilters, every, query_of
from tashi.domain.errors import ERRORS_BY_CODE, InvalidInput, TashiError, Unavailable

if TYPE_CHECKING:  # at run time: ``wire.X``, which imports X's submodule only
    from tashi.api.schemas import (
        BindIn,
        BindingIn,
        BindingOut,
        DesiredOut,
        DestroyOut,
        EventOut,
        HeartbeatIn,
        HostCredentialOut,
        HostDetailOut,
        HostLayoutOut,
        HostOut,
        ImageOut,
        InstanceCreate,
        InstanceOut,
        JoinTokenOut,
        NetworkOut,
        NetworkShowOut,
        QuotaOut,
        ReportIn,
        SlotsOut,
        SnapshotOut,
        TokenCreatedOut,
        TokenOut,
        TokenSettings,
        UnplacedIn,
        UsageReportOut,
        UsageRowOut,
        UserCredentialOut,
        UserOut,
        VncOut,
        WhoAmIOut,
    )
    from tashi.api.schemas.migration import MigrateIn
    from tashi.domain.usage import UsageReport

M = TypeVar("M", bound=BaseModel)
API = "/api/v1"
ANSWER_S = 45.0  # calls the manager answers once an agent did something (it waits 30 s)


class TashiClient:
    def __init__(self, base_url: str, token: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 30.0, verify: bool | str = True) -> None:
        """``base_url``: the manager's URL, or several separated by commas (replicas of
        one cluster: :mod:`tashi.client.failover`). ``verify``: True (the system's
        CAs), a CA file (a private CA), or False.

        Raises :class:`~tashi.domain.errors.InvalidInput` for a URL that cannot name a
        manager, a token no HTTP header can carry, or a CA file that cannot be used."""
        urls = manager_urls(base_url)
        self._base = ", ".join(urls)  # as errors name it
        headers = {"Authorization": f"Bearer {checked_token(token)}"} if token else {}
        context: bool | ssl.SSLContext = (
            ssl_context(verify) if isinstance(verify, str) else verify)
        if context is True and all(u.startswith("http://") for u in urls):
            context = trusting_nothing()  # no TLS here: the system's CAs are not loaded
        if len(urls) > 1:  # replicas: see tashi.client.failover
            transport = Failover(urls, transport or httpx.AsyncHTTPTransport(verify=context))
        self._http = httpx.AsyncClient(base_url=urls[0], headers=headers,
                                       transport=transport, timeout=timeout_s, verify=context)

    async def __aenter__(self) -> TashiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def _call(self, method: str, path: str, *, timeout_s: float | None = None,
                    **kwargs: Any) -> httpx.Response:
        extra: dict[str, Any] = {"timeout": timeout_s} if timeout_s is not None else {}
        try:
            resp = await self._http.request(method, API + path, **kwargs, **extra)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise InvalidInput(f"invalid manager URL {self._base!r}: {exc}") from exc
        except httpx.TransportError as exc:
            raise Unavailable(_unanswered(method, self._base, exc)) from exc
        if resp.status_code >= 400:
            raise _error_of(resp)
        return resp

    async def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        return model.model_validate_json((await self._call("GET", path, **kwargs)).content)

    async def _list(self, model: type[M], path: str) -> list[M]:
        resp = await self._call("GET", path)
        return TypeAdapter(list[model]).validate_json(resp.content)  # type: ignore[valid-type]

    async def _page(self, model: type[M], path: str, filters: Mapping[str, object],
                    limit: int | None, after: object | None) -> tuple[list[M], str | None]:
        """A page of a listing (see :mod:`tashi.client.paging`) and the next's cursor."""
        resp = await self._call("GET", path, params=query_of(filters, limit=limit, after=after))
        return _adapter(model).validate_json(resp.content), resp.headers.get(wire.NEXT_AFTER)

    async def _send(self, model: type[M], method: str, path: str,
                    body: BaseModel | None = None) -> M:
        content = body.model_dump_json().encode() if body is not None else None
        resp = await self._call(method, path, content=content,
                                headers={"Content-Type": "application/json"})
        return model.model_validate_json(resp.content)

    async def manager_version(self) -> str:
        """The manager's version (``GET /healthz``: no token needed)."""
        try:
            resp = await self._http.get("/healthz")
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the manager at {self._base}: "
                              f"{exc.__class__.__name__} {exc}".rstrip()) from exc
        if resp.status_code >= 400:
            raise _error_of(resp)
        try:
            return str(resp.json()["version"])
        except (ValueError, KeyError, TypeError):
            raise TashiError(f"{self._base} answered /healthz without a version: "
                             "is it a Tashi manager?") from None

    # --- users' calls -------------------------------------------------------------------

    async def whoami(self) -> WhoAmIOut:
        return await self._get(wire.WhoAmIOut, "/whoami")

    async def create_instance(self, body: InstanceCreate, *,
                              idempotency_key: str | None = None) -> InstanceOut:
        """With ``idempotency_key``, the same call again returns what the first made."""
        resp = await self._call("POST", "/instances", content=body.model_dump_json().encode(),
                                headers=_create_headers(idempotency_key))
        return wire.InstanceOut.model_validate_json(resp.content)

    async def create_instances(self, body: InstanceCreate, *,
                               idempotency_key: str | None = None) -> list[InstanceOut]:
        """``body.count`` instances, NAME-1 ... NAME-N (NAME for one), all or none."""
        resp = await self._call("POST", "/instances/bulk",
                                content=body.model_dump_json().encode(),
                                headers=_create_headers(idempotency_key))
        return _adapter(wire.InstanceOut).validate_json(resp.content)

    async def list_instances(self, *, limit: int | None = None, after: int | None = None,
                             **filters: Unpack[InstanceFilters]) -> list[InstanceOut]:
        """The instances you may see meeting ``filters``, by id: all, or the page of
        ``limit`` after id ``after`` (:meth:`instances_page` says if more follow)."""
        return (await self.instances_page(limit=limit, after=after, **filters))[0]

    async def instances_page(self, *, limit: int | None = None, after: int | None = None,
                             **filters: Unpack[InstanceFilters],
                             ) -> tuple[list[InstanceOut], int | None]:
        """:meth:`list_instances`, and the ``after`` of the next page (None: no more)."""
        found, cursor = await self._page(wire.InstanceOut, "/instances", filters, limit, after)
        return found, None if cursor is None else int(cursor)

    def iter_instances(self, *, page_size: int = PAGE_SIZE,
                       **filters: Unpack[InstanceFilters]) -> AsyncIterator[InstanceOut]:
        """Every instance :meth:`list_instances` would list, fetched ``page_size`` at a
        time as they are reached (one created meanwhile past the page read is seen)."""
        return every(lambda after: self._page(wire.InstanceOut, "/instances", filters,
                                              page_size, after))

    async def get_instance(self, ref: str | int) -> InstanceOut:
        return await self._get(wire.InstanceOut, f"/instances/{_seg(ref)}")

    async def shutdown_instance(self, ref: str | int) -> InstanceOut:
        return await self._send(wire.InstanceOut, "POST", f"/instances/{_seg(ref)}/shutdown")

    async def operate_instance(self, ref: str | int, operation: str) -> InstanceOut:
        """``operation``: "pause", "unpause", "suspend" or "resume"."""
        return await self._send(wire.InstanceOut, "POST",
                                f"/instances/{_seg(ref)}/{_seg(operation)}")

    async def migrate_instance(self, ref: str | int, body: MigrateIn) -> InstanceOut:
        return await self._send(wire.InstanceOut, "POST", f"/instances/{_seg(ref)}/migrate",
                                body)

    async def abort_migration(self, ref: str | int) -> InstanceOut:
        return await self._send(wire.InstanceOut, "POST",
                                f"/instances/{_seg(ref)}/migrate/abort")

    async def reboot_instance(self, ref: str | int, *, hard: bool = False) -> InstanceOut:
        query = "?hard=true" if hard else ""
        return await self._send(wire.InstanceOut, "POST",
                                f"/instances/{_seg(ref)}/reboot{query}")

    async def destroy_instance(self, ref: str | int, *, force: bool = False) -> DestroyOut:
        """``force`` (admins): remove the record at once when its host is silent or gone."""
        query = "?force=true" if force else ""
        return await self._send(wire.DestroyOut, "DELETE", f"/instances/{_seg(ref)}{query}")

    async def console(self, ref: str | int) -> str:
        return (await self._call("GET", f"/instances/{_seg(ref)}/console")).text

    async def open_vnc(self, ref: str | int) -> VncOut:
        """Start the Running instance's VNC server with a fresh password (in the answer)."""
        resp = await self._call("POST", f"/instances/{_seg(ref)}/vnc", timeout_s=ANSWER_S)
        return wire.VncOut.model_validate_json(resp.content)

    async def close_vnc(self, ref: str | int) -> None:
        await self._call("DELETE", f"/instances/{_seg(ref)}/vnc", timeout_s=ANSWER_S)

    async def screenshot(self, ref: str | int) -> bytes:
        """A PNG of the Running instance's display, taken now."""
        resp = await self._call("GET", f"/instances/{_seg(ref)}/screenshot", timeout_s=ANSWER_S)
        return resp.content

    async def events(self, ref: str | int) -> list[EventOut]:
        return await self._list(wire.EventOut, f"/instances/{_seg(ref)}/events")

    async def list_events(self, **filters: str | int | None) -> list[EventOut]:
        """Events meeting ``filters`` (instance, host, user, kind, since, after, limit;
        None: not asked), oldest first."""
        params = {k: str(v) for k, v in filters.items() if v is not None}
        resp = await self._call("GET", "/events", params=params)
        return TypeAdapter(list[wire.EventOut]).validate_json(resp.content)

    async def list_images(self) -> list[ImageOut]:
        return await self._list(wire.ImageOut, "/images")

    async def get_image(self, name: str) -> ImageOut:
        """Image ``name`` (``NAME``: yours, else a public one; or ``OWNER/NAME``)."""
        return await self._get(wire.ImageOut, f"/images/{_image_path(name)}")

    async def copy_image(self, source: str, name: str) -> ImageOut:
        """Copy image ``source`` into your own image ``name``."""
        resp = await self._call("POST", "/images", json={"source": source, "name": name})
        return wire.ImageOut.model_validate_json(resp.content)

    async def delete_image(self, name: str) -> None:
        """Delete image ``name`` (yours, or any as an admin); 409 while a disk uses it."""
        await self._call("DELETE", f"/images/{_image_path(name)}")

    async def upload_image(self, name: str, chunks: AsyncIterator[bytes], *,
                           public: bool = False, min_memory_mib: int = 0) -> ImageOut:
        """Import image ``name`` of yours; ``public`` (admins): every user's to boot."""
        params = {k: v for k, v in (("visibility", "public" if public else None),
                                    ("min_memory_mib", min_memory_mib or None)) if v}
        resp = await self._call("PUT", f"/images/{_seg(name)}", content=chunks, timeout_s=None,
                                params=params or None,
                                headers={"Content-Type": "application/octet-stream"})
        return wire.ImageOut.model_validate_json(resp.content)

    async def list_networks(self) -> list[NetworkOut]:
        return await self._list(wire.NetworkOut, "/networks")

    async def get_network(self, name: str) -> NetworkShowOut:
        return await self._get(wire.NetworkShowOut, f"/networks/{_seg(name)}")

    async def remove_network(self, name: str) -> None:
        await self._call("DELETE", f"/networks/{_seg(name)}")

    async def add_network(self, name: str, kind: str = "user") -> NetworkOut:
        resp = await self._call("POST", "/networks", json={"name": name, "kind": kind})
        return wire.NetworkOut.model_validate_json(resp.content)

    # --- admins' calls --------------------------------------------------------------------

    async def list_hosts(self, *, limit: int | None = None, after: str | None = None,
                         **filters: Unpack[HostFilters]) -> list[HostOut]:
        """The hosts meeting ``filters``, by name: all, or the page of ``limit`` after
        host ``after`` (:meth:`hosts_page` says if more follow)."""
        return (await self.hosts_page(limit=limit, after=after, **filters))[0]

    async def hosts_page(self, *, limit: int | None = None, after: str | None = None,
                         **filters: Unpack[HostFilters]) -> tuple[list[HostOut], str | None]:
        """:meth:`list_hosts`, and the ``after`` of the next page (None: no more)."""
        return await self._page(wire.HostOut, "/hosts", filters, limit, after)

    def iter_hosts(self, *, page_size: int = PAGE_SIZE,
                   **filters: Unpack[HostFilters]) -> AsyncIterator[HostOut]:
        """Every host :meth:`list_hosts` would list, fetched ``page_size`` at a time."""
        return every(lambda after: self._page(wire.HostOut, "/hosts", filters, page_size,
                                              after))

    async def get_host(self, name: str) -> HostDetailOut:
        return await self._get(wire.HostDetailOut, f"/hosts/{_seg(name)}")

    async def add_host(self, name: str) -> HostCredentialOut:
        resp = await self._call("POST", "/hosts", json={"name": name})
        return wire.HostCredentialOut.model_validate_json(resp.content)

    async def reissue_host_credential(self, name: str) -> HostCredentialOut:
        resp = await self._call("POST", f"/hosts/{_seg(name)}/credential")
        return wire.HostCredentialOut.model_validate_json(resp.content)

    async def set_host_state(self, name: str, state: str) -> HostOut:
        resp = await self._call("PATCH", f"/hosts/{_seg(name)}", json={"state": state})
        return wire.HostOut.model_validate_json(resp.content)

    async def reserve_host(self, name: str, users: list[str]) -> HostOut:
        """Reserve host ``name`` for ``users``' instances; [] for anyone's again."""
        resp = await self._call("PATCH", f"/hosts/{_seg(name)}", json={"reserved_for": users})
        return wire.HostOut.model_validate_json(resp.content)

    async def slots(self, cores: int, memory_mib: int) -> SlotsOut:
        return await self._get(wire.SlotsOut, "/slots",
                               params={"cores": cores, "memory_mib": memory_mib})

    async def layout(self) -> list[HostLayoutOut]:
        return await self._list(wire.HostLayoutOut, "/layout")

    async def join_token(self, action: str) -> JoinTokenOut:
        """``action``: "show", "rotate" or "revoke"."""
        method = {"show": "GET", "rotate": "POST", "revoke": "DELETE"}[action]
        resp = await self._call(method, "/join-token")
        if resp.status_code == 204:
            return wire.JoinTokenOut(enabled=False)
        return wire.JoinTokenOut.model_validate_json(resp.content)

    async def list_users(self) -> list[UserOut]:
        return await self._list(wire.UserOut, "/users")

    async def add_user(self, name: str, role: str, password: str | None = None,
                       source: str = "local") -> UserCredentialOut:
        body = {"name": name, "role": role, "password": password, "source": source}
        resp = await self._call("POST", "/users", json=body)
        return wire.UserCredentialOut.model_validate_json(resp.content)

    async def delete_user(self, name: str) -> None:
        await self._call("DELETE", f"/users/{_seg(name)}")

    # --- passwords, logging in, tokens ------------------------------------------------------

    async def set_password(self, name: str, password: str, current: str | None = None) -> None:
        """Set user ``name``'s password (your own: give the ``current`` one unless admin)."""
        await self._call("PUT", f"/users/{_seg(name)}/password",
                         json={"password": password, "current_password": current})

    async def login(self, user: str, password: str, *, token_name: str | None = None,
                    expires_in_s: int | None = None) -> TokenCreatedOut:
        """A new API token for ``user``, given its password (no token needed)."""
        body = {"user": user, "password": password, "token_name": token_name,
                "expires_in_s": expires_in_s}
        resp = await self._call("POST", "/login", json=body)
        return wire.TokenCreatedOut.model_validate_json(resp.content)

    async def list_tokens(self, user: str | None = None) -> list[TokenOut]:
        """Your tokens; an admin may name another ``user``."""
        resp = await self._call("GET", "/tokens", params={"user": user} if user else None)
        return TypeAdapter(list[wire.TokenOut]).validate_json(resp.content)

    async def create_token(self, name: str, expires_in_s: int | None = None) -> TokenCreatedOut:
        resp = await self._call("POST", "/tokens",
                                json={"name": name, "expires_in_s": expires_in_s})
        return wire.TokenCreatedOut.model_validate_json(resp.content)

    async def revoke_token(self, token_id: int) -> TokenOut:
        return await self._send(wire.TokenOut, "DELETE", f"/tokens/{_seg(token_id)}")

    async def token_settings(self) -> TokenSettings:
        return await self._get(wire.TokenSettings, "/settings/tokens")

    async def set_token_settings(self, *, password_login_only: bool) -> TokenSettings:
        """Admins: tokens made by password logins only (True), or by any token too."""
        resp = await self._call("PUT", "/settings/tokens",
                                json={"password_login_only": password_login_only})
        return wire.TokenSettings.model_validate_json(resp.content)

    # --- quotas ---------------------------------------------------------------------------

    async def list_quotas(self) -> list[QuotaOut]:
        """Admins: every user with a limit, with what each uses."""
        return await self._list(wire.QuotaOut, "/quotas")

    async def get_quota(self, user: str) -> QuotaOut:
        """``user``'s limits and use (your own, or anyone's for an admin)."""
        return await self._get(wire.QuotaOut, f"/quotas/{_seg(user)}")

    async def set_quota(self, user: str, limits: dict[str, int | None]) -> QuotaOut:
        """Admins: set the limits named (None: no limit), keep the others."""
        resp = await self._call("PUT", f"/quotas/{_seg(user)}", json=limits)
        return wire.QuotaOut.model_validate_json(resp.content)

    async def delete_quota(self, user: str) -> QuotaOut:
        """Admins: remove every limit of ``user``."""
        return await self._send(wire.QuotaOut, "DELETE", f"/quotas/{_seg(user)}")

    # --- usage reports --------------------------------------------------------------------

    async def usage(self, *, user: str | None = None, host: str | None = None,
                    instance: str | None = None, start: datetime | None = None,
                    end: datetime | None = None, by: str | None = None,
                    per: str = "instance", limit: int | None = None,
                    after: str | None = None) -> UsageReportOut:
        """One page of the usage report (your own, or anyone's for an admin): the closed
        usage summed per period ``by`` (None: each interval; "hour", "day", "month")
        and ``per`` ("instance", "user", "host"), periods starting from ``start`` to
        before ``end``; pass its ``next`` as ``after`` for the page after."""
        given = {"user": user, "host": host, "instance": instance, "by": by, "per": per,
                 "limit": limit, "after": after,
                 "from": None if start is None else start.isoformat(),
                 "to": None if end is None else end.isoformat()}
        params = {k: str(v) for k, v in given.items() if v is not None}
        return await self._get(wire.UsageReportOut, "/usage", params=params)

    async def usage_rows(self, **query: Any) -> AsyncIterator[UsageRowOut]:
        """Every row of the report :meth:`usage` pages through (same arguments, but
        ``after``), page after page."""
        after: str | None = None
        while True:
            page = await self.usage(**query, after=after)
            for row in page.rows:
                yield row
            if page.next is None:
                return
            after = page.next

    # --- agents' and scheduler's calls ----------------------------------------------------

    async def join(self, host: str, join_token: str) -> str:
        resp = await self._call("POST", "/agent/join",
                                json={"host": host, "join_token": join_token})
        return str(resp.json()["token"])

    async def heartbeat(self, host: str, body: HeartbeatIn) -> None:
        await self._call("POST", f"/agent/hosts/{_seg(host)}/heartbeat",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def desired(self, host: str, since: str | None, wait_s: float) -> DesiredOut:
        params: dict[str, Any] = {"wait": wait_s}
        if since:
            params["since"] = since
        return await self._get(wire.DesiredOut, f"/agent/hosts/{_seg(host)}/instances",
                               params=params, timeout_s=wait_s + 30)

    async def report(self, host: str, body: ReportIn) -> None:
        await self._call("POST", f"/agent/hosts/{_seg(host)}/report",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def put_consoles(self, host: str, consoles: dict[int, str]) -> None:
        """The console tails that changed on ``host`` (the agent's console stream)."""
        body = wire.ConsolesIn(consoles=[wire.ConsoleIn(id=i, text=t)
                                         for i, t in consoles.items()])
        await self._call("POST", f"/agent/hosts/{_seg(host)}/consoles",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def answer_vnc(self, host: str, instance_id: int, request: int, *, vnc_host: str = "",
                         port: int = 0, error: str = "") -> None:
        """``host``'s agent answers VNC request ``request``: where it listens, or why not."""
        body = wire.VncAnswerIn(request=request, host=vnc_host, port=port, error=error)
        await self._call("POST", f"/agent/hosts/{_seg(host)}/instances/{instance_id}/vnc",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def answer_screenshot(self, host: str, instance_id: int, request: int, *,
                                png: bytes | None = None, error: str = "") -> None:
        """``host``'s agent answers screenshot request ``request``: a PNG, or why none."""
        body = wire.ScreenshotIn(request=request, error=error, png_base64=None if png is None
                                 else base64.b64encode(png).decode("ascii"))
        await self._call("POST", f"/agent/hosts/{_seg(host)}/instances/{instance_id}/screenshot",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def post_usage(self, report: UsageReport) -> None:
        """A usage report of ``report.host``'s agent (Conflict: counted already)."""
        body = wire.UsageReportIn.of(report)
        await self._call("POST", f"/agent/hosts/{_seg(report.host)}/usage",
                         content=body.model_dump_json().encode(),
                         headers={"Content-Type": "application/json"})

    async def follow_console(self, ref: str | int) -> AsyncIterator[str]:
        """The console text, then what is added to it as it is written, until the
        instance is gone (the stream ends) or the caller stops."""
        try:
            async with self._http.stream("GET", f"{API}/instances/{_seg(ref)}/console",
                                         params={"follow": "true"},
                                         timeout=httpx.Timeout(10.0, read=None)) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error_of(resp)
                async for chunk in resp.aiter_text():
                    if chunk:
                        yield chunk
        except httpx.TransportError as exc:
            raise Unavailable(f"lost the manager at {self._base}: "
                              f"{exc.__class__.__name__} {exc}".rstrip()) from exc

    async def snapshot(self, since: str | None, wait_s: float) -> SnapshotOut:
        params: dict[str, Any] = {"wait": wait_s}
        if since:
            params["since"] = since
        return await self._get(wire.SnapshotOut, "/scheduler/snapshot", params=params,
                               timeout_s=wait_s + 30)

    async def bind(self, instance_id: int, body: BindIn) -> InstanceOut:
        return await self._send(wire.InstanceOut, "POST", f"/instances/{_seg(instance_id)}/bind",
                                body)

    async def bind_many(self, bindings: list[BindingIn]) -> list[BindingOut]:
        """Bindings applied atomically one by one: each ``bound``, or refused."""
        content = _adapter(wire.BindingIn).dump_json(bindings)
        resp = await self._call("POST", "/scheduler/bindings", content=content,
                                headers={"Content-Type": "application/json"})
        return _adapter(wire.BindingOut).validate_json(resp.content)

    async def note_unplaced_many(self, notes: list[UnplacedIn]) -> None:
        await self._call("POST", "/scheduler/unplaced",
                         content=_adapter(wire.UnplacedIn).dump_json(notes),
                         headers={"Content-Type": "application/json"})

    async def note_unplaced(self, instance_id: int, reason: str) -> None:
        await self._call("POST", f"/scheduler/unplaced/{_seg(instance_id)}",
                         params={"reason": reason[:1000]})


@cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """A list of ``model``, built once (when first needed, not at import)."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _seg(value: str | int) -> str:
    """One path segment, quoted: a name can never add or remove path segments."""
    return quote(str(value), safe="")


def _image_path(ref: str) -> str:
    """``NAME`` or ``OWNER/NAME`` as one or two quoted path segments."""
    return "/".join(_seg(part) for part in ref.split("/", 1))


def _error_of(resp: httpx.Response) -> TashiError:
    """The error tree's class for an error answer: by its code, else by its status."""
    by_status = {c.http_status: c for c in reversed(ERRORS_BY_CODE.values())}
    try:
        body = resp.json()
        code, message = str(body.get("error")), str(body.get("message"))
    except (ValueError, AttributeError):
        code, message = "", f"HTTP {resp.status_code} {resp.reason_phrase}"
    cls = ERRORS_BY_CODE.get(code) or by_status.get(resp.status_code, TashiError)
    return cls(message)


def _unanswered(method: str, base: str, exc: httpx.TransportError) -> str:
    """Why a request got no answer, in words: the manager never reached, or reached and
    gone before it answered (then a request that changes something may have been done)."""
    what = f"{exc.__class__.__name__} {exc}".rstrip()
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"cannot reach the manager at {base}: {what}"
    maybe = "" if method in ("GET", "HEAD") else " (it may have been done: look before " \
        "asking again)"
    return f"the manager at {base} did not answer the {method} request{maybe}: {what}"


def _create_headers(idempotency_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers
