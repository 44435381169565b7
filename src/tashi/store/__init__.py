"""Persistence: the :class:`~tashi.store.base.Store` contract and its implementations."""
