"""The cluster's join token: what an agent shows once to register itself.

The store holds its hash (setting ``join_token_sha256``); an empty value means auto
registration is off. A token given in the manager's settings (``TASHI_JOIN_TOKEN``)
seeds the store only if it has never held one, so a rotation or a revocation made
through the API survives restarts. The token itself is shown once, never stored.
"""

from __future__ import annotations

import logging

from tashi.common.secrets import hash_token, new_token, same_secret
from tashi.domain.errors import Forbidden
from tashi.store.base import Store

log = logging.getLogger(__name__)

SETTING = "join_token_sha256"


class JoinTokens:
    def __init__(self, store: Store, seed: str | None) -> None:
        self._store = store
        if seed is not None and store.get_setting(SETTING) is None:
            store.put_setting(SETTING, hash_token(seed))

    @property
    def enabled(self) -> bool:
        return bool(self._store.get_setting(SETTING))

    def check(self, host: str, given: str) -> None:
        expected = self._store.get_setting(SETTING)
        if not expected:
            raise Forbidden("auto registration is disabled on this manager")
        if not same_secret(hash_token(given), expected):
            raise Forbidden(f"host {host}: wrong join token")

    def rotate(self, by: str) -> str:
        """A new join token (shown once); the old one stops working at once."""
        token = new_token()
        self._store.put_setting(SETTING, hash_token(token))
        log.info("join token rotated by %s", by)
        return token

    def revoke(self, by: str) -> None:
        self._store.put_setting(SETTING, "")
        log.info("join token revoked by %s: auto registration is off", by)
