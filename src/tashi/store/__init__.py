"""Persistence: the :class:`~tashi.store.base.Store` contract and its implementations.

Open one with :func:`open_store` (see :mod:`tashi.store.factory` for the URLs).
"""

from __future__ import annotations

from tashi.store.factory import migrate_store, open_store

__all__ = ["migrate_store", "open_store"]
