#!/usr/bin/env bash
# Install everything the tests need, then run them all: lint, types, unit,
# integration (in-process cluster, fake driver) and e2e (real QEMU VMs).
# The e2e tests fail, never skip, when QEMU or the guest image is missing.
#
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install.sh
scripts/build-guest-image.sh >/dev/null

echo "== ruff" >&2
.venv/bin/ruff check src tests benchmarks examples
echo "== mypy --strict" >&2
.venv/bin/mypy --strict
echo "== pytest" >&2
.venv/bin/python -m pytest "$@"
