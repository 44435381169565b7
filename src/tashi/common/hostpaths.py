"""Host paths out of messages shown to users who are not admins.

A user sees why their instance failed or their upload was refused, but not where the
host keeps things (``/var/lib/tashi/agent/vm-7/qemu.log``, an upload's temporary): that
is the host's layout, and no business of theirs. Admins read the full message in the
logs of the manager and the agents.
"""

from __future__ import annotations

import re

HIDDEN = "<host path>"

#: An absolute path: a '/' that does not continue a word, a number, a relative path or
#: a URL ("alice/debian-12", "2/8", "https://x/y" are left alone), up to a space or quote,
#: without the punctuation that ends a sentence or a clause ("/a/b: no such file").
_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s'\"`()\[\]{}<>,;]*[^\s'\"`()\[\]{}<>,;:.!?])?")


def without_host_paths(text: str) -> str:
    """``text`` with every absolute path replaced by ``<host path>``."""
    return _PATH.sub(HIDDEN, text)
