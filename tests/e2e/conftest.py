"""Fixtures of the end-to-end tests: real QEMU and the guest image.

These tests fail (never skip) when QEMU or the image cannot be had: CI always runs them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_GUEST_IMAGE = REPO / "scripts" / "build-guest-image.sh"
QEMU_TOOLS = ("qemu-system-x86_64", "qemu-img")


@pytest.fixture(scope="session")
def qemu_tools() -> None:
    missing = [tool for tool in QEMU_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: apt-get install -y "
                    "--no-install-recommends qemu-system-x86 qemu-utils")


@pytest.fixture(scope="session")
def guest_image(qemu_tools: None) -> Path:
    """The tiny guest (qcow2) of scripts/build-guest-image.sh, built once and cached.

    Shared by the whole session: never boot it as a persistent disk (copy it first)."""
    result = subprocess.run(
        ["bash", str(BUILD_GUEST_IMAGE)],
        capture_output=True, text=True, timeout=1800, check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"{BUILD_GUEST_IMAGE} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    image = Path(lines[-1])
    if not image.is_file():
        pytest.fail(f"{BUILD_GUEST_IMAGE} printed {image}, which is not a file")
    return image
