"""The pickle store: a whole cluster in one file, for tiny installs.

::

    store = PickleStore(Path("/var/lib/tashi/state.pickle"))  # or open_store("pickle:///...")
"""

from __future__ import annotations

from tashi.store.picklefile.store import PickleStore

__all__ = ["PickleStore"]
