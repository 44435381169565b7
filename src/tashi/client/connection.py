"""What a client checks and makes before it connects: the manager's URLs, the token's
characters, the TLS context."""

from __future__ import annotations

import ssl

import httpx

from tashi.domain.errors import InvalidInput


def manager_urls(text: str) -> list[str]:
    """The manager URLs in ``text``: one, or several separated by commas, each checked
    (:class:`~tashi.domain.errors.InvalidInput` for one that cannot name a manager)."""
    return [checked_url(u.strip().rstrip("/")) for u in text.split(",")]


def checked_url(url: str) -> str:
    """``url`` if requests can be sent to it: http(s), a host, a port in 1-65535."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"invalid manager URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"invalid manager URL {url!r}: use http://HOST:PORT or https://…")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InvalidInput(f"invalid manager URL {url!r}: the port must be 1-65535")
    return url


def checked_token(token: str) -> str:
    """``token`` if an HTTP header can carry it; the error never shows the token."""
    if not all("!" <= char <= "~" for char in token):
        raise InvalidInput("malformed API token: it may hold only printable ASCII "
                           "characters, without spaces")
    return token


def trusting_nothing() -> ssl.SSLContext:
    """A verifying TLS context that trusts no CA, for a client of an ``http://`` manager:
    its requests never use TLS (they all go to the base URL; redirects are not followed),
    and loading the system's CAs would cost ~50 ms of every CLI call. Were it ever used,
    it would refuse the peer, never accept one unverified."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def ssl_context(ca_file: str) -> ssl.SSLContext:
    """A context that trusts the CA certificate(s) in ``ca_file``."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise InvalidInput(f"CA file {ca_file} holds no usable certificate: "
                           f"{exc.reason or exc}") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read CA file {ca_file}: "
                           f"{exc.strerror or exc}") from exc
