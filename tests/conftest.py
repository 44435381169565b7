"""What every test shares: garbage collected at each test's end.

An object a test leaves unclosed (an asyncio transport, a subprocess still running, a
socket, a file) warns with ResourceWarning when it is collected; ``filterwarnings =
error`` makes that warning an error of whichever test the collector happened to run
in, which under load is often a later, innocent one. Collecting at the end of every
test puts the error on the test that leaked, every time, whatever the load.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    # Everything imported so far lives to the end: frozen, it is not looked at again,
    # so a test's collection costs what the test made, not 170 ms a test.
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_what_the_test_left() -> Iterator[None]:
    # Set up before any other fixture of the test, so torn down after all of them
    # (the test's event loop included): what is still unclosed then was leaked.
    yield
    gc.collect()
    gc.freeze()  # what outlived it (caches, mostly) is not looked at again
