"""Where the manager's URL and the caller's token come from.

In order: the ``--url``/``--token`` flags, the ``TASHI_URL``/``TASHI_TOKEN``
environment variables, then the config file
``${XDG_CONFIG_HOME:-~/.config}/tashi/config.toml`` (keys ``url``, ``token`` and
``ca``: the CA certificate to verify an https manager with, else ``TASHI_CA``; and
``user``: whose token it is, as ``tashi login`` found).
The URL defaults to :data:`DEFAULT_URL`; the token has no default.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tashi.common.files import write_private
from tashi.domain.errors import InvalidInput, TashiError

DEFAULT_URL = "http://127.0.0.1:8470"


@dataclass(frozen=True)
class Target:
    """The manager to talk to, and as whom."""

    url: str
    token: str | None
    ca: str | None = None  # a CA file to verify the manager's certificate with


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tashi" / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The config file's table; empty when there is no file."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid UTF-8 (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from exc


def resolve(url: str | None = None, token: str | None = None) -> Target:
    """The target from flags, else the environment, else the config file, else defaults."""
    url = url or os.environ.get("TASHI_URL") or None
    token = token or os.environ.get("TASHI_TOKEN") or None
    ca = os.environ.get("TASHI_CA") or None
    if url is None or token is None or ca is None:
        path = config_path()
        saved = read_config(path)
        url = url or _string(saved, "url", path) or DEFAULT_URL
        token = token or _string(saved, "token", path)
        ca = ca or _string(saved, "ca", path)
    return Target(url=check_url(url), token=token, ca=ca)


def check_url(url: str) -> str:
    """``url`` if it can name a manager: http(s), with a host and a port in 1-65535; or
    several such, separated by commas (the replicas of one cluster, tried in turn)."""
    return ",".join(_check_one(u.strip()) for u in url.split(","))


def _check_one(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"invalid manager URL {url!r}: use http://HOST:PORT or https://…")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InvalidInput(f"invalid manager URL {url!r}: the port must be 1-65535")
    return url.rstrip("/")


def _string(table: dict[str, Any], key: str, path: Path) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"config file {path}: {key} must be a string")
    return value or None


def saved_login() -> tuple[Target, str | None] | None:
    """The login the config file holds (its target, and the user it was made for if
    it says: files written before it did not); None when it holds no token."""
    path = config_path()
    saved = read_config(path)
    token = _string(saved, "token", path)
    if token is None:
        return None
    url = _string(saved, "url", path) or DEFAULT_URL
    target = Target(url=url, token=token, ca=_string(saved, "ca", path))
    return target, _string(saved, "user", path)


def save_config(target: Target, user: str | None = None) -> Path:
    """Write ``url`` and ``token`` (and whose it is, ``user``) to the config file,
    atomically, readable only by its owner."""
    path = config_path()
    lines = [f"url = {_toml_string(target.url)}"]
    if target.token:
        lines.append(f"token = {_toml_string(target.token)}")
    if user:
        lines.append(f"user = {_toml_string(user)}")
    if target.ca:
        lines.append(f"ca = {_toml_string(target.ca)}")
    try:
        write_private(path, "\n".join(lines) + "\n")
    except OSError as exc:
        raise TashiError(f"cannot write config file {path}: {exc.strerror}") from exc
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes (``\\"``, ``\\\\``, ``\\u00e9``) are TOML's too."""
    return json.dumps(value, ensure_ascii=True)
